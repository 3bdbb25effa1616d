"""Controls of the kubelet's configuration on every node (CIS Kubernetes 1.12, section 4.2), judged from its
EFFECTIVE configuration: a flag (running command line, or the unit and its environment files) wins over the config
file's key, an absent key is the config file's default (KubeletConfiguration v1beta1 defaulting).

``set_to`` is what harden writes into the config file when a test fails; a failing value that comes from a FLAG is
not rewritten behind the operator's back: the plan says which flag in which file to remove.
"""

from __future__ import annotations

from kubeharden.core.catalog.apiserver import STRONG_CIPHER_SUITES
from kubeharden.core.catalog.model import ROLES, Control, KubeletTest, LiveTest, Op, Param

KUBELET_CA = "/etc/kubernetes/pki/ca.crt"
SYSCTL_FILE = "/etc/sysctl.d/90-kubelet.conf"
KERNEL_SETTINGS: tuple[tuple[str, str], ...] = (
    ("vm.overcommit_memory", "1"),
    ("vm.panic_on_oom", "0"),
    ("kernel.panic", "10"),
    ("kernel.panic_on_oops", "1"),
    ("kernel.keys.root_maxkeys", "1000000"),
    ("kernel.keys.root_maxbytes", "25000000"),
)
"""What the kubelet sets (and, with protectKernelDefaults, requires): k8s.io/component-helpers node/util/sysctl."""
PIDS = Param("kubeharden_kubelet_pod_pids_limit", cis=1)
KUBELET_CIPHERS = Param("kubeharden_tls_cipher_suites", cis=STRONG_CIPHER_SUITES)
TLS_MIN = Param("kubeharden_tls_min_version", cis="1.2")


def _control(cid: str, title: str, *tests: KubeletTest, scored: bool = True, **extra: object) -> Control:
    return Control(
        cid,
        title,
        "kubelet",
        None,
        tests,
        layer="cluster",
        roles=ROLES,
        scored=scored,
        **extra,  # type: ignore[arg-type]
    )


LIVE = Control(
    "KH-KUBELET-live",
    "An anonymous client on a control plane gets 401 from the kubelet on 10250 and no answer on 10255",
    "kubelet",
    None,
    (LiveTest("kubelet_anonymous"),),
    applied_by="none",
    expected="anonymous GET https://NODE:10250/pods -> 401; nothing answers on http://NODE:10255",
    remediation="kubeharden harden (area kubelet): authentication.anonymous.enabled false, readOnlyPort 0",
    roles=ROLES,
    tags=("live",),
)
"""Probed from the first control plane collected (the firewall lets only control planes reach 10250)."""

CONTROLS: tuple[Control, ...] = (
    _control(
        "4.2.1",
        "The kubelet refuses anonymous requests",
        KubeletTest("authentication.anonymous.enabled", Op.EQ, "false", "--anonymous-auth", "false", False),
        remediation="set authentication.anonymous.enabled: false in the kubelet config (and no --anonymous-auth=true)",
    ),
    _control(
        "4.2.2",
        "The kubelet authorizes requests through the API server (not AlwaysAllow)",
        KubeletTest("authorization.mode", Op.NOTEQ, "AlwaysAllow", "--authorization-mode", "Webhook", "Webhook"),
        KubeletTest("authentication.webhook.enabled", Op.EQ, "true", "--authentication-token-webhook", "true", True),
        remediation="set authorization.mode: Webhook and authentication.webhook.enabled: true in the kubelet config",
    ),
    _control(
        "4.2.3",
        "The kubelet verifies client certificates against the cluster CA",
        KubeletTest("authentication.x509.clientCAFile", Op.SET, None, "--client-ca-file", None, KUBELET_CA),
        remediation=f"set authentication.x509.clientCAFile: {KUBELET_CA} in the kubelet config",
    ),
    _control(
        "4.2.4",
        "The kubelet's read-only port is off",
        KubeletTest("readOnlyPort", Op.EQ, "0", "--read-only-port", "0", 0),
        remediation="set readOnlyPort: 0 in the kubelet config (and no --read-only-port flag)",
        rationale="scored by kubeharden although CIS 1.12 lists it as manual: port 10255 serves the node's pods "
        "and their specs to anyone who can reach it, without authentication",
    ),
    _control(
        "4.2.5",
        "Streaming connections time out (streamingConnectionIdleTimeout is not 0)",
        KubeletTest(
            "streamingConnectionIdleTimeout",
            Op.NOTEQ,
            "0",
            "--streaming-connection-idle-timeout",
            "4h0m0s",
            zero_is_default=True,
        ),
        remediation="remove --streaming-connection-idle-timeout=0 (kubeadm's 0s in the config file is the 4h default)",
        scored=False,
    ),
    _control(
        "4.2.6",
        "The kubelet manages its iptables utility chains",
        KubeletTest("makeIPTablesUtilChains", Op.EQ, "true", "--make-iptables-util-chains", "true", True),
        remediation="set makeIPTablesUtilChains: true in the kubelet config (or remove the key)",
    ),
    _control(
        "4.2.7",
        "--hostname-override is not set",
        KubeletTest(None, Op.UNSET, None, "--hostname-override"),
        remediation="remove --hostname-override from the kubelet's flags (kubeadm-flags.env or /etc/default/kubelet)",
        scored=False,
    ),
    _control(
        "4.2.8",
        "eventRecordQPS is 0 or more",
        KubeletTest("eventRecordQPS", Op.GTE, "0", "--event-qps", "50"),
        remediation="set eventRecordQPS to 0 or more in the kubelet config",
        scored=False,
    ),
    _control(
        "4.2.9",
        "The kubelet serves a certificate of its own (tlsCertFile, or serverTLSBootstrap)",
        KubeletTest("tlsCertFile", Op.SET, None, "--tls-cert-file", unless=("serverTLSBootstrap", "true")),
        remediation="set serverTLSBootstrap: true (then approve the kubelets' serving CSRs, or run an approver) or "
        "tlsCertFile/tlsPrivateKeyFile in the kubelet config",
        scored=False,
    ),
    _control(
        "4.2.10",
        "The kubelet rotates its client certificate",
        KubeletTest("rotateCertificates", Op.EQ, "true", "--rotate-certificates", "true", True),
        remediation="set rotateCertificates: true in the kubelet config (or remove the key)",
    ),
    _control(
        "4.2.11",
        "The RotateKubeletServerCertificate feature gate is not off",
        KubeletTest("featureGates", Op.GATE_ON, "RotateKubeletServerCertificate", "--feature-gates"),
        remediation="remove RotateKubeletServerCertificate: false from the kubelet's featureGates",
        scored=False,
    ),
    _control(
        "4.2.12",
        "The kubelet accepts only strong TLS cipher suites",
        KubeletTest("tlsCipherSuites", Op.SUBSET, KUBELET_CIPHERS, "--tls-cipher-suites", None, KUBELET_CIPHERS),
        remediation="set tlsCipherSuites to strong ECDHE AES-GCM / CHACHA20 suites (kubeharden_tls_cipher_suites)",
        scored=False,
    ),
    _control(
        "KH-KUBELET-TLS",
        "The kubelet's minimum TLS version is the profile's (1.2 or higher)",
        KubeletTest("tlsMinVersion", Op.TLS_MIN, TLS_MIN, "--tls-min-version", None, TLS_MIN),
        remediation="set tlsMinVersion: VersionTLS12 (or 13) in the kubelet config",
    ),
    _control(
        "KH-KUBELET-PKD",
        "protectKernelDefaults is on: the kubelet refuses kernel settings that differ from what it needs, which are "
        "written first to a sysctl file of their own",
        KubeletTest("protectKernelDefaults", Op.EQ, "true", "--protect-kernel-defaults", "false", True),
        remediation="write the kubelet's kernel settings (vm.overcommit_memory=1, vm.panic_on_oom=0, kernel.panic=10, "
        "kernel.panic_on_oops=1, kernel.keys.root_maxkeys=1000000, kernel.keys.root_maxbytes=25000000) to "
        "/etc/sysctl.d/90-kubelet.conf, apply it, then set protectKernelDefaults: true",
        rationale="without the sysctl file a node whose kernel lost these values (a reboot) has a kubelet that exits "
        "at start: harden writes and applies the file first (kubeharden_kubelet_kernel_sysctls)",
        reads=("kubeharden_kubelet_kernel_sysctls",),
    ),
    _control(
        "4.2.13",
        "Pods have a PID limit (podPidsLimit)",
        KubeletTest("podPidsLimit", Op.GTE, PIDS, "--pod-max-pids", "-1", PIDS),
        remediation="set podPidsLimit in the kubelet config (kubeharden_kubelet_pod_pids_limit)",
        scored=False,
    ),
    _control(
        "4.2.14",
        "Pods get the runtime's default seccomp profile (seccompDefault)",
        KubeletTest("seccompDefault", Op.EQ, "true", "--seccomp-default", "false", True),
        remediation="set seccompDefault: true in the kubelet config",
        scored=False,
    ),
    LIVE,
)
