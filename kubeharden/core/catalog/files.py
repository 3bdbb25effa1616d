"""Controls of control-plane files (CIS Kubernetes 1.12, section 1.1): modes and owners."""

from __future__ import annotations

from kubeharden.core.catalog.model import Control, FileTest

MANIFESTS = "/etc/kubernetes/manifests"
PKI_KEYS = "/etc/kubernetes/pki/**/*.key"

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
