"""Every check of kube-bench's cis-1.12 (CIS Kubernetes Benchmark 1.12, sections 1-4) and what kubeharden does
with it: the catalog controls that cover it, or the reason it has none. Pure data; docs/controls.md shows it as a
generated table and a unit test keeps every automated check covered or explained.

Pairs kube-bench checks separately (permissions, then ownership) are one catalog control each: kubeharden's file
tests judge mode and owner together.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One benchmark check: its ID, whether kube-bench scores it (automated), what it asks, and kubeharden's answer."""

    id: str
    automated: bool
    asks: str
    controls: tuple[str, ...] = ()
    reason: str = ""


def _c(cid: str, automated: bool, asks: str, *controls: str, reason: str = "") -> Check:
    return Check(cid, automated, asks, controls, reason)


A, M = True, False
KUBEADM_ETCD_ROOT = (
    "kubeadm runs etcd as root in its static pod and creates no etcd user (kubeadm#2931): the data directory's owner "
    "root:root is what the pod needs; 1.1.11 checks its mode"
)

CHECKS: tuple[Check, ...] = (
    _c("1.1.1", A, "kube-apiserver.yaml 600", "1.1.1"),
    _c("1.1.2", A, "kube-apiserver.yaml root:root", "1.1.1"),
    _c("1.1.3", A, "kube-controller-manager.yaml 600", "1.1.3"),
    _c("1.1.4", A, "kube-controller-manager.yaml root:root", "1.1.3"),
    _c("1.1.5", A, "kube-scheduler.yaml 600", "1.1.5"),
    _c("1.1.6", A, "kube-scheduler.yaml root:root", "1.1.5"),
    _c("1.1.7", A, "etcd.yaml 600", "1.1.7"),
    _c("1.1.8", A, "etcd.yaml root:root", "1.1.7"),
    _c("1.1.9", M, "CNI config files 600", reason="the CNI's files belong to the CNI (its DaemonSet rewrites them)"),
    _c("1.1.10", M, "CNI config files root:root", reason="as 1.1.9"),
    _c("1.1.11", A, "etcd data directory 700", "1.1.11"),
    _c("1.1.12", A, "etcd data directory etcd:etcd", reason=KUBEADM_ETCD_ROOT),
    _c("1.1.13", A, "admin.conf and super-admin.conf 600", "1.1.13", "1.1.13s"),
    _c("1.1.14", A, "admin.conf and super-admin.conf root:root", "1.1.13", "1.1.13s"),
    _c("1.1.15", A, "scheduler.conf 600", "1.1.15"),
    _c("1.1.16", A, "scheduler.conf root:root", "1.1.15"),
    _c("1.1.17", A, "controller-manager.conf 600", "1.1.17"),
    _c("1.1.18", A, "controller-manager.conf root:root", "1.1.17"),
    _c("1.1.19", A, "everything under /etc/kubernetes/pki root:root", "1.1.19"),
    _c("1.1.20", M, "PKI certificates 644", "1.1.20"),
    _c("1.1.21", M, "PKI keys 600", "1.1.21"),
    _c("1.2.1", M, "anonymous requests refused (except health endpoints)", "1.2.1", "1.2.1-live"),
    _c("1.2.2", A, "--token-auth-file not set", "1.2.2"),
    _c("1.2.3", M, "DenyServiceExternalIPs admission plugin", "1.2.3"),
    _c("1.2.4", A, "--kubelet-client-certificate and key set", "1.2.4"),
    _c("1.2.5", A, "--kubelet-certificate-authority set", "1.2.5"),
    _c("1.2.6", A, "--authorization-mode not AlwaysAllow", "1.2.6"),
    _c("1.2.7", A, "--authorization-mode has Node", "1.2.7"),
    _c("1.2.8", A, "--authorization-mode has RBAC", "1.2.8"),
    _c("1.2.9", M, "EventRateLimit admission plugin", "1.2.9"),
    _c("1.2.10", A, "AlwaysAdmit not enabled", "1.2.10"),
    _c("1.2.11", M, "AlwaysPullImages admission plugin", "1.2.11"),
    _c("1.2.12", A, "ServiceAccount admission not disabled", "1.2.12"),
    _c("1.2.13", A, "NamespaceLifecycle admission not disabled", "1.2.13"),
    _c("1.2.14", A, "NodeRestriction admission plugin", "1.2.14"),
    _c("1.2.15", A, "--profiling false", "1.2.15"),
    _c("1.2.16", A, "--audit-log-path set", "1.2.16"),
    _c("1.2.17", A, "--audit-log-maxage >= 30", "1.2.17"),
    _c("1.2.18", A, "--audit-log-maxbackup >= 10", "1.2.18"),
    _c("1.2.19", A, "--audit-log-maxsize >= 100", "1.2.19"),
    _c("1.2.20", M, "--request-timeout appropriate", reason="no safe value to impose: kubeadm's default 60 s is kept"),
    _c("1.2.21", A, "--service-account-lookup true", "1.2.21"),
    _c("1.2.22", A, "--service-account-key-file set", "1.2.22"),
    _c("1.2.23", A, "--etcd-certfile and keyfile set", "1.2.23"),
    _c("1.2.24", A, "--tls-cert-file and key set", "1.2.24"),
    _c("1.2.25", A, "--client-ca-file set", "1.2.25"),
    _c("1.2.26", A, "--etcd-cafile set", "1.2.26"),
    _c("1.2.27", M, "--encryption-provider-config set", "1.2.27"),
    _c("1.2.28", M, "encryption provider aescbc, kms or secretbox", "1.2.28", "KH-ENC-live"),
    _c("1.2.29", M, "strong TLS cipher suites only", "1.2.29"),
    _c("1.2.30", A, "--service-account-extend-token-expiration false", "1.2.30"),
    _c("1.3.1", M, "--terminated-pod-gc-threshold set", "1.3.1"),
    _c("1.3.2", A, "controller-manager --profiling false", "1.3.2"),
    _c("1.3.3", A, "--use-service-account-credentials true", "1.3.3"),
    _c("1.3.4", A, "--service-account-private-key-file set", "1.3.4"),
    _c("1.3.5", A, "--root-ca-file set", "1.3.5"),
    _c("1.3.6", A, "RotateKubeletServerCertificate not off", "1.3.6"),
    _c("1.3.7", A, "controller-manager --bind-address 127.0.0.1", "1.3.7"),
    _c("1.4.1", A, "scheduler --profiling false", "1.4.1"),
    _c("1.4.2", A, "scheduler --bind-address 127.0.0.1", "1.4.2"),
    _c("2.1", A, "etcd --cert-file and --key-file set", "2.1"),
    _c("2.2", A, "etcd --client-cert-auth true", "2.2", "KH-ETCD-CLIENT-live"),
    _c("2.3", A, "etcd --auto-tls not true", "2.3"),
    _c("2.4", A, "etcd --peer-cert-file and key set", "2.4"),
    _c("2.5", A, "etcd --peer-client-cert-auth true", "2.5"),
    _c("2.6", A, "etcd --peer-auto-tls not true", "2.6"),
    _c("2.7", M, "etcd --trusted-ca-file set, a CA of its own", "2.7"),
    _c("3.1.1", M, "users do not authenticate with client certificates",
       reason="an organisational control (who gets which credential): outside a host's configuration"),
    _c("3.1.2", M, "users do not authenticate with service-account tokens", reason="as 3.1.1"),
    _c("3.1.3", M, "users do not authenticate with bootstrap tokens", reason="as 3.1.1"),
    _c("3.2.1", M, "a minimal audit policy", "3.2.1"),
    _c("3.2.2", M, "the audit policy covers key security concerns", "3.2.1",
       reason="kubeharden's policy (templates/) logs Secrets and tokens at Metadata, everything else at Request"),
    _c("4.1.1", A, "kubelet service file 600", "4.1.1"),
    _c("4.1.2", A, "kubelet service file root:root", "4.1.1"),
    _c("4.1.3", M, "kube-proxy kubeconfig 600, if a file",
       reason="kubeadm's kube-proxy reads its kubeconfig from a ConfigMap: there is no file on the node"),
    _c("4.1.4", M, "kube-proxy kubeconfig root:root, if a file", reason="as 4.1.3"),
    _c("4.1.5", A, "kubelet.conf 600", "4.1.5"),
    _c("4.1.6", A, "kubelet.conf root:root", "4.1.5"),
    _c("4.1.7", M, "client CA file 644", "4.1.7"),
    _c("4.1.8", M, "client CA file root:root", "4.1.7"),
    _c("4.1.9", A, "kubelet config.yaml 600", "4.1.9"),
    _c("4.1.10", A, "kubelet config.yaml root:root", "4.1.9"),
    _c("4.2.1", A, "kubelet anonymous auth false", "4.2.1"),
    _c("4.2.2", A, "kubelet authorization not AlwaysAllow", "4.2.2"),
    _c("4.2.3", A, "kubelet client CA file set", "4.2.3"),
    _c("4.2.4", M, "kubelet read-only port 0", "4.2.4"),
    _c("4.2.5", M, "streamingConnectionIdleTimeout not 0", "4.2.5"),
    _c("4.2.6", A, "makeIPTablesUtilChains true", "4.2.6"),
    _c("4.2.7", M, "--hostname-override not set", "4.2.7"),
    _c("4.2.8", M, "eventRecordQPS >= 0", "4.2.8"),
    _c("4.2.9", M, "kubelet serving certificate (tlsCertFile or serverTLSBootstrap)", "4.2.9"),
    _c("4.2.10", A, "rotateCertificates true", "4.2.10"),
    _c("4.2.11", M, "RotateKubeletServerCertificate not off", "4.2.11"),
    _c("4.2.12", M, "kubelet strong TLS cipher suites", "4.2.12"),
    _c("4.2.13", M, "podPidsLimit set", "4.2.13"),
    _c("4.2.14", M, "seccompDefault true", "4.2.14"),
    _c("4.3.1", A, "kube-proxy metricsBindAddress 127.0.0.1",
       reason="kubeadm's kube-proxy is configured by its ConfigMap (kube-system/kube-proxy), not a file on the node: "
       "there is nothing on the host to check or set; check the ConfigMap's metricsBindAddress"),
)  # fmt: skip


def markdown() -> str:
    """The docs table (docs/controls.md): one row per benchmark check."""
    return "\n".join(coverage_rows()) + "\n"


def coverage_rows() -> list[str]:
    """One row per benchmark check."""
    rows = ["| CIS 1.12 | kube-bench | Asks | kubeharden |", "|---|---|---|---|"]
    for check in CHECKS:
        answer = ", ".join(check.controls) if check.controls else "no control"
        if check.reason:
            answer += f": {check.reason}"
        rows.append(f"| {check.id} | {'automated' if check.automated else 'manual'} | {check.asks} | {answer} |")
    return rows
