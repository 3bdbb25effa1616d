"""Controls of control-plane files (CIS Kubernetes 1.12, section 1.1): modes and owners."""

from __future__ import annotations

from kubeharden.core.catalog.model import Control, FileTest

MANIFESTS = "/etc/kubernetes/manifests"
PKI_KEYS = "/etc/kubernetes/pki/**/*.key"
PKI_CERTS = "/etc/kubernetes/pki/**/*.crt"
PKI_ALL = "/etc/kubernetes/pki/**"

CONTROLS: tuple[Control, ...] = (
    *(
        Control(
            cid,
            f"{what} file permissions are 600 or stricter and owned by root:root",
            "files",
            None,
            (FileTest(0o600, path=path),),
            remediation=f"chmod 600 {path}; chown root:root {path}",
            layer="infrastructure",
        )
        for cid, what, path in (
            ("1.1.1", "kube-apiserver pod specification", f"{MANIFESTS}/kube-apiserver.yaml"),
            ("1.1.3", "kube-controller-manager pod specification", f"{MANIFESTS}/kube-controller-manager.yaml"),
            ("1.1.5", "kube-scheduler pod specification", f"{MANIFESTS}/kube-scheduler.yaml"),
            ("1.1.7", "etcd pod specification", f"{MANIFESTS}/etcd.yaml"),
            ("1.1.13", "admin.conf", "/etc/kubernetes/admin.conf"),
            ("1.1.13s", "super-admin.conf", "/etc/kubernetes/super-admin.conf"),
            ("1.1.15", "scheduler.conf", "/etc/kubernetes/scheduler.conf"),
            ("1.1.17", "controller-manager.conf", "/etc/kubernetes/controller-manager.conf"),
        )
    ),
    Control(
        "1.1.19",
        "Everything under /etc/kubernetes/pki is owned by root:root",
        "files",
        None,
        (FileTest(0o777, glob=PKI_ALL),),
        expected="every file and directory under /etc/kubernetes/pki owned by root:root (any mode: 1.1.20 and 1.1.21 "
        "judge modes)",
        remediation="chown -R root:root /etc/kubernetes/pki",
        layer="infrastructure",
    ),
    Control(
        "1.1.20",
        "Kubernetes PKI certificate files are 644 or stricter",
        "files",
        None,
        (FileTest(0o644, glob=PKI_CERTS),),
        expected="every *.crt under /etc/kubernetes/pki mode 644 or stricter, root:root",
        remediation="chmod 644 /etc/kubernetes/pki/*.crt /etc/kubernetes/pki/etcd/*.crt",
        layer="infrastructure",
        scored=False,
    ),
    Control(
        "1.1.21",
        "Kubernetes PKI key files are 600 or stricter",
        "files",
        None,
        (FileTest(0o600, glob=PKI_KEYS),),
        expected="every *.key under /etc/kubernetes/pki mode 600 or stricter, root:root",
        remediation="chmod 600 /etc/kubernetes/pki/*.key /etc/kubernetes/pki/etcd/*.key",
        layer="infrastructure",
        scored=False,
    ),
)
