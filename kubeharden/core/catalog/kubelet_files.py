"""Controls of the kubelet's files on every node, workers and control planes (CIS Kubernetes 1.12, section 4.1).

The paths are kubeadm's (and the kubernetes/release packages'): the unit and its drop-ins wherever a package or an
operator put them, kubelet.conf, config.yaml, the client CA. File modes change nothing the kubelet reads at run
time, so harden tightens them without restarting it.
"""

from __future__ import annotations

from kubeharden.core.catalog.model import ROLES, Control, FileTest

KUBELET_UNIT_GLOBS: tuple[str, ...] = (
    "/etc/systemd/system/kubelet.service",
    "/etc/systemd/system/kubelet.service.d/*.conf",
    "/usr/lib/systemd/system/kubelet.service",
    "/usr/lib/systemd/system/kubelet.service.d/*.conf",
    "/lib/systemd/system/kubelet.service",
    "/lib/systemd/system/kubelet.service.d/*.conf",
)
"""Where a kubelet unit and its drop-ins live (kube-bench's candidates for $kubeletsvc, plus the drop-in
directories next to each unit): a glob matching nothing is skipped, so each host is judged on the files it has."""
KUBELET_KUBECONFIG = "/etc/kubernetes/kubelet.conf"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
KUBELET_CLIENT_CA = "/etc/kubernetes/pki/ca.crt"

CONTROLS: tuple[Control, ...] = (
    Control(
        "4.1.1",
        "kubelet service file and drop-ins are 600 or stricter and owned by root:root",
        "kubelet",
        None,
        tuple(FileTest(0o600, glob=pattern) for pattern in KUBELET_UNIT_GLOBS),
        expected="kubelet.service and every kubelet.service.d/*.conf mode 600 or stricter, root:root",
        remediation="chmod 600 and chown root:root the kubelet unit and its drop-ins "
        "(/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf on kubeadm hosts)",
        layer="infrastructure",
        roles=ROLES,
    ),
    Control(
        "4.1.5",
        "kubelet.conf is 600 or stricter and owned by root:root",
        "kubelet",
        None,
        (FileTest(0o600, path=KUBELET_KUBECONFIG),),
        remediation=f"chmod 600 {KUBELET_KUBECONFIG}; chown root:root {KUBELET_KUBECONFIG}",
        layer="infrastructure",
        roles=ROLES,
    ),
    Control(
        "4.1.7",
        "the kubelet's client certificate authorities file is 644 or stricter and owned by root:root",
        "kubelet",
        None,
        (FileTest(0o644, path=KUBELET_CLIENT_CA),),
        remediation=f"chmod 644 {KUBELET_CLIENT_CA}; chown root:root {KUBELET_CLIENT_CA}",
        layer="infrastructure",
        roles=ROLES,
        scored=False,
        rationale="a manual check in CIS 1.12: a CA certificate is public, 644 keeps it readable",
    ),
    Control(
        "4.1.9",
        "the kubelet's config.yaml is 600 or stricter and owned by root:root",
        "kubelet",
        None,
        (FileTest(0o600, path=KUBELET_CONFIG),),
        remediation=f"chmod 600 {KUBELET_CONFIG}; chown root:root {KUBELET_CONFIG}",
        layer="infrastructure",
        roles=ROLES,
    ),
)
