"""Controls of kube-apiserver (CIS Kubernetes 1.12, section 1.2 and 3.2.1, plus kubeharden's own KH-API-*)."""

from __future__ import annotations

from kubeharden.core.catalog.model import (
    APISERVER,
    ConfigTest,
    Control,
    FlagTest,
    ListenTest,
    LiveTest,
    Op,
    Param,
    WhenProfile,
)

STRONG_CIPHER_SUITES: tuple[str, ...] = (
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
"""CIS 1.2.29's strong suites: TLS 1.3 suites and ECDHE with AES-GCM or CHACHA20."""

TLS_MIN = Param("kubeharden_tls_min_version", cis="1.2")
CIPHERS = Param("kubeharden_tls_cipher_suites", cis=STRONG_CIPHER_SUITES)
INSECURE_PORT = 8080


def _api(cid: str, title: str, *tests: FlagTest | ConfigTest | ListenTest | LiveTest, **kw: object) -> Control:
    return Control(cid, title, "apiserver", APISERVER, tests, **kw)  # type: ignore[arg-type]


def _cert(flag: str, default: str) -> FlagTest:
    """A file flag kubeadm sets: kept as it is, kubeadm's default written when missing; the file must exist."""
    volume = "etcd-certs" if "{etcd_pki}" in default else "k8s-certs"
    return FlagTest(flag, Op.SET, default=default, volume=volume, must_exist=True)


def _plugin(plugin: str) -> FlagTest:
    return FlagTest("--enable-admission-plugins", Op.HAS, plugin, conflicts="--disable-admission-plugins")


CONTROLS: tuple[Control, ...] = (
    _api(
        "KH-API-INSECURE",
        "No insecure port is served",
        FlagTest("--insecure-port", Op.IN, ("0",), unset="0", write="always"),
        FlagTest("--port", Op.IN, ("0",), unset="0"),
        FlagTest("--insecure-bind-address", Op.UNSET),
        FlagTest("--address", Op.UNSET),
        ListenTest(INSECURE_PORT, flag="--insecure-port"),
        LiveTest("insecure_port_closed"),
        expected="--insecure-port absent (1.24+) or 0, and nothing listening on 8080",
        remediation="remove --insecure-port/--insecure-bind-address on 1.24+ (set --insecure-port=0 on 1.20-1.23)",
        rationale="1.24 removed the flags: passing one stops kube-apiserver; before 1.20 omitting it served 8080",
    ),
    _api(
        "KH-API-BIND",
        "kube-apiserver serves its secure port, on the profile's bind address and port when the profile sets them",
        FlagTest("--secure-port", Op.NOTEQ, "0", unset="6443", fix=False),
        FlagTest("--bind-address", Op.EQ, Param("kubeharden_apiserver_bind_address")),
        FlagTest("--secure-port", Op.EQ, Param("kubeharden_apiserver_secure_port")),
        applied_by="planner",
        expected="--secure-port not 0; --bind-address and --secure-port as the profile sets them (else kubeadm's)",
        remediation="set kubeharden_apiserver_bind_address / _secure_port and run kubeharden harden; never "
        "--secure-port=0",
        rationale="--secure-port=0 turns the API off (docs/pitfalls.md: a public STIG role writes it by a regex slip)",
    ),
    _api(
        "1.2.1",
        "Anonymous requests are refused everywhere except the health endpoints",
        ConfigTest("anonymous"),
        applied_by="planner",
        owns=("--anonymous-auth", "--authentication-config"),
        reads=("kubeharden_authentication_config_file",),
        expected="--authentication-config with anonymous allowed only on /livez, /readyz, /healthz (1.34+); "
        "or anonymous auth restricted by RBAC to health endpoints (older versions)",
        remediation="on 1.34+: write an AuthenticationConfiguration whose anonymous section lists only /livez, "
        "/readyz and /healthz, mount it, set --authentication-config and remove --anonymous-auth",
        rationale="--anonymous-auth=false breaks kubeadm's own probes (kubernetes#43784)",
    ),
    _api(
        "1.2.1-live",
        "An anonymous request to the API gets 401",
        LiveTest("anonymous_api"),
        applied_by="none",
        expected="HTTP 401 for GET /api without credentials, 200 for /livez",
        remediation="restrict anonymous access (control 1.2.1)",
        tags=("live",),
    ),
    _api(
        "1.2.2",
        "--token-auth-file is not set",
        FlagTest("--token-auth-file", Op.UNSET),
        remediation="remove --token-auth-file from the kube-apiserver manifest",
        rationale="static tokens never expire",
    ),
    _api(
        "1.2.3",
        "The DenyServiceExternalIPs admission plugin is set",
        _plugin("DenyServiceExternalIPs"),
        scored=False,
        when=WhenProfile("kubeharden_deny_service_external_ips"),
        rationale="off by default: it refuses every Service with spec.externalIPs, which some load-balancer set-ups "
        "use; turn it on with kubeharden_deny_service_external_ips (CVE-2020-8554)",
    ),
    _api(
        "1.2.4",
        "--kubelet-client-certificate and --kubelet-client-key are set",
        _cert("--kubelet-client-certificate", "{pki}/apiserver-kubelet-client.crt"),
        _cert("--kubelet-client-key", "{pki}/apiserver-kubelet-client.key"),
        expected="both set",
        remediation="set them to /etc/kubernetes/pki/apiserver-kubelet-client.{crt,key}",
    ),
    _api(
        "1.2.5",
        "--kubelet-certificate-authority is set",
        FlagTest(
            "--kubelet-certificate-authority",
            Op.SET,
            default="{pki}/ca.crt",
            volume="k8s-certs",
            must_exist=True,
        ),
        expected="set (the cluster CA)",
        remediation="set --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt",
        scored=False,
        when=WhenProfile("kubeharden_kubelet_serving_certs_signed"),
        rationale="needs kubelet serving certificates signed by the cluster CA (serverTLSBootstrap); kubeharden "
        "sets it only when kubeharden_kubelet_serving_certs_signed says the kubelets serve such certificates, "
        "else logs and exec through the API break",
    ),
    _api(
        "1.2.6",
        "--authorization-mode does not include AlwaysAllow",
        FlagTest(
            "--authorization-mode", Op.NOTHAVE, "AlwaysAllow", unset="AlwaysAllow", unless_flag="--authorization-config"
        ),
        remediation="set --authorization-mode=Node,RBAC",
    ),
    _api(
        "1.2.7",
        "--authorization-mode includes Node",
        FlagTest("--authorization-mode", Op.HAS, "Node", insert="first", unless_flag="--authorization-config"),
        remediation="set --authorization-mode=Node,RBAC",
    ),
    _api(
        "1.2.8",
        "--authorization-mode includes RBAC",
        FlagTest("--authorization-mode", Op.HAS, "RBAC", insert="after:Node", unless_flag="--authorization-config"),
        remediation="set --authorization-mode=Node,RBAC",
    ),
    _api(
        "1.2.9",
        "The EventRateLimit admission plugin is set, configured through an AdmissionConfiguration",
        _plugin("EventRateLimit"),
        FlagTest("--admission-control-config-file", Op.SET, default=Param("kubeharden_admission_config_file")),
        applied_by="planner",
        reads=("kubeharden_event_rate_limit_qps", "kubeharden_event_rate_limit_burst"),
        expected="has EventRateLimit; --admission-control-config-file set",
        remediation="add EventRateLimit to --enable-admission-plugins and its configuration to the "
        "AdmissionConfiguration",
    ),
    _api(
        "1.2.10",
        "The AlwaysAdmit admission plugin is not set",
        FlagTest("--enable-admission-plugins", Op.NOTHAVE, "AlwaysAdmit", unset=""),
        remediation="remove AlwaysAdmit from --enable-admission-plugins",
    ),
    _api(
        "1.2.11",
        "The AlwaysPullImages admission plugin is set",
        _plugin("AlwaysPullImages"),
        scored=False,
        when=WhenProfile("kubeharden_always_pull_images"),
        rationale="off by default: every pod start then needs the registry (air-gapped and registry-outage "
        "clusters stop starting pods); turn it on with kubeharden_always_pull_images on multi-tenant clusters",
    ),
    _api(
        "1.2.12",
        "The ServiceAccount admission plugin is not disabled",
        FlagTest("--disable-admission-plugins", Op.NOTHAVE, "ServiceAccount", unset=""),
        remediation="remove ServiceAccount from --disable-admission-plugins",
    ),
    _api(
        "1.2.13",
        "The NamespaceLifecycle admission plugin is not disabled",
        FlagTest("--disable-admission-plugins", Op.NOTHAVE, "NamespaceLifecycle", unset=""),
        remediation="remove NamespaceLifecycle from --disable-admission-plugins",
    ),
    _api(
        "1.2.14",
        "The NodeRestriction admission plugin is set",
        _plugin("NodeRestriction"),
        remediation="add NodeRestriction to --enable-admission-plugins",
    ),
    _api(
        "KH-API-ADMISSION",
        "The admission plugins the profile lists are enabled",
        FlagTest(
            "--enable-admission-plugins",
            Op.HAS,
            Param("kubeharden_admission_plugins"),
            conflicts="--disable-admission-plugins",
        ),
        when=WhenProfile("kubeharden_admission_plugins"),
        remediation="add the plugins of kubeharden_admission_plugins to --enable-admission-plugins",
    ),
    _api(
        "KH-API-PSA",
        "Pod Security Admission defaults are configured through an AdmissionConfiguration",
        ConfigTest("pod_security"),
        applied_by="planner",
        reads=(
            "kubeharden_pod_security_enforce",
            "kubeharden_pod_security_audit",
            "kubeharden_pod_security_warn",
            "kubeharden_pod_security_exempt_namespaces",
            "kubeharden_admission_config_file",
        ),
        expected="a PodSecurity plugin configuration with the profile's enforce/audit/warn defaults or stricter",
        remediation="add a PodSecurity entry to the AdmissionConfiguration named by --admission-control-config-file",
    ),
    _api("1.2.15", "--profiling is false", FlagTest("--profiling", Op.EQ, "false", unset="true")),
    _api(
        "1.2.16",
        "--audit-log-path is set",
        FlagTest("--audit-log-path", Op.SET, default=Param("kubeharden_audit_log_path")),
        applied_by="planner",
        remediation="set --audit-log-path and mount its directory (DirectoryOrCreate, writable)",
    ),
    _api(
        "1.2.17",
        "--audit-log-maxage is 30 or more",
        FlagTest("--audit-log-maxage", Op.GTE, Param("kubeharden_audit_log_maxage", cis=30)),
    ),
    _api(
        "1.2.18",
        "--audit-log-maxbackup is 10 or more",
        FlagTest("--audit-log-maxbackup", Op.GTE, Param("kubeharden_audit_log_maxbackup", cis=10)),
    ),
    _api(
        "1.2.19",
        "--audit-log-maxsize is 100 or more",
        FlagTest("--audit-log-maxsize", Op.GTE, Param("kubeharden_audit_log_maxsize", cis=100)),
    ),
    _api(
        "1.2.21",
        "--service-account-lookup is true",
        FlagTest("--service-account-lookup", Op.EQ, "true", unset="true", write="always"),
        remediation="remove --service-account-lookup=false or set it to true",
    ),
    _api(
        "1.2.22",
        "--service-account-key-file is set",
        _cert("--service-account-key-file", "{pki}/sa.pub"),
        remediation="set --service-account-key-file=/etc/kubernetes/pki/sa.pub",
    ),
    _api(
        "1.2.23",
        "--etcd-certfile and --etcd-keyfile are set",
        _cert("--etcd-certfile", "{pki}/apiserver-etcd-client.crt"),
        _cert("--etcd-keyfile", "{pki}/apiserver-etcd-client.key"),
        expected="both set",
        remediation="set them to /etc/kubernetes/pki/apiserver-etcd-client.{crt,key}",
    ),
    _api(
        "1.2.24",
        "--tls-cert-file and --tls-private-key-file are set",
        _cert("--tls-cert-file", "{pki}/apiserver.crt"),
        _cert("--tls-private-key-file", "{pki}/apiserver.key"),
        expected="both set",
        remediation="set them to /etc/kubernetes/pki/apiserver.{crt,key}",
    ),
    _api(
        "1.2.25",
        "--client-ca-file is set",
        _cert("--client-ca-file", "{pki}/ca.crt"),
        remediation="set --client-ca-file=/etc/kubernetes/pki/ca.crt",
    ),
    _api(
        "1.2.26",
        "--etcd-cafile is set",
        _cert("--etcd-cafile", "{etcd_pki}/ca.crt"),
        remediation="set --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
    ),
    _api(
        "1.2.29",
        "Only strong TLS cipher suites are accepted",
        FlagTest("--tls-cipher-suites", Op.SUBSET, CIPHERS),
        remediation="set --tls-cipher-suites to strong ECDHE AES-GCM / CHACHA20 suites (kubeharden_tls_cipher_suites)",
    ),
    _api(
        "KH-API-TLS",
        "The minimum TLS version is the profile's (1.2 or higher)",
        FlagTest("--tls-min-version", Op.TLS_MIN, TLS_MIN),
    ),
    _api(
        "KH-API-TLS-live",
        "A TLS 1.1 handshake with the API server is refused",
        LiveTest("tls11_refused"),
        applied_by="none",
        expected="handshake refused",
        remediation="set --tls-min-version=VersionTLS12",
        tags=("live",),
    ),
    _api(
        "1.2.30",
        "--service-account-extend-token-expiration is false",
        FlagTest("--service-account-extend-token-expiration", Op.EQ, "false", unset="true"),
    ),
    _api(
        "3.2.1",
        "An audit policy is configured",
        FlagTest("--audit-policy-file", Op.SET, default=Param("kubeharden_audit_policy_file")),
        applied_by="planner",
        expected="--audit-policy-file set (with its read-only mount)",
        remediation="write an audit Policy, mount it read-only, set --audit-policy-file",
    ),
)
