"""The control catalog: one source of truth per control, read by the deploys, the checks and the reports.

Controls are data, in the spirit of kube-bench: an ID (the CIS Kubernetes Benchmark ID where one exists, else
KH-...), a title, the layer and area it belongs to, the roles it applies to, what is checked (`tests`), the
value expected in words, and the remediation. Hardening reads the same entries to know what to set. Pure
logic, no I/O.

A test is a small dict:
- flag tests (component process flags): {"flag": "--profiling", "op": "eq", "value": "false", "unset": "true"}
  `unset` is the value the binary uses when the flag is absent; ops: eq, noteq, set, unset, has, nothave,
  gte, subset (comma list must be a subset of `value`).
- file tests: {"file": PATH or "flag:<component>:<flag>", "mode": "600", "owner": "root:root"}
  mode is a bitmask maximum ("600 or stricter"), as kube-bench judges it.
- live tests: {"live": NAME}: judged from probes run from the machine running the checks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
ETCD = "etcd"
CONTROL_PLANE = "control_plane"
WORKERS = "workers"
BOTH_ROLES = (CONTROL_PLANE, WORKERS)

AREAS: Mapping[str, str] = {
    "apiserver": "kube-apiserver flags and the files it reads (TLS, authn, authz, admission, audit)",
    "etcd": "etcd client and peer TLS, client-certificate auth, data directory",
    "controller-manager": "kube-controller-manager flags",
    "scheduler": "kube-scheduler flags",
    "files": "modes and owners of control-plane manifests, kubeconfigs and PKI (CIS 1.1)",
    "firewall": "nftables ACLs per role (table inet kubeharden), applied with commit-confirm; every host",
    "encryption": "Secrets encryption at rest: the EncryptionConfiguration, its key lifecycle, proof in etcd",
}

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


@dataclass(frozen=True)
class Control:
    """One control: what is checked, what is expected, how to fix it."""

    id: str
    title: str
    area: str
    component: str | None
    tests: tuple[dict[str, Any], ...]
    expected: str
    remediation: str
    layer: str = "cluster"
    roles: tuple[str, ...] = (CONTROL_PLANE,)
    scored: bool = True
    rationale: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


def _flag(flag: str, op: str, value: str | None = None, unset: str | None = None) -> dict[str, Any]:
    test: dict[str, Any] = {"flag": flag, "op": op}
    if value is not None:
        test["value"] = value
    if unset is not None:
        test["unset"] = unset
    return test


def _file(path: str, mode: str, owner: str = "root:root") -> dict[str, Any]:
    return {"file": path, "mode": mode, "owner": owner}


def _api(cid: str, title: str, tests: list[dict[str, Any]], expected: str, fix: str, **kw: Any) -> Control:
    return Control(cid, title, "apiserver", APISERVER, tuple(tests), expected, fix, **kw)


_MANIFESTS = "/etc/kubernetes/manifests"

CONTROLS: tuple[Control, ...] = (
    # ---- 1.1 control-plane files -------------------------------------------------------------------------
    *(
        Control(
            cid,
            f"{what} file permissions are 600 or stricter and owned by root:root",
            "files",
            None,
            (_file(path, "600"),),
            "mode 600 or stricter, root:root",
            f"chmod 600 {path}; chown root:root {path}",
            layer="infrastructure",
        )
        for cid, what, path in (
            ("1.1.1", "kube-apiserver pod specification", f"{_MANIFESTS}/kube-apiserver.yaml"),
            ("1.1.3", "kube-controller-manager pod specification", f"{_MANIFESTS}/kube-controller-manager.yaml"),
            ("1.1.5", "kube-scheduler pod specification", f"{_MANIFESTS}/kube-scheduler.yaml"),
            ("1.1.7", "etcd pod specification", f"{_MANIFESTS}/etcd.yaml"),
            ("1.1.13", "admin.conf", "/etc/kubernetes/admin.conf"),
            ("1.1.13s", "super-admin.conf", "/etc/kubernetes/super-admin.conf"),
            ("1.1.15", "scheduler.conf", "/etc/kubernetes/scheduler.conf"),
            ("1.1.17", "controller-manager.conf", "/etc/kubernetes/controller-manager.conf"),
        )
    ),
    Control(
        "1.1.11",
        "The etcd data directory permissions are 700 or stricter",
        "etcd",
        ETCD,
        (_file("flag:etcd:--data-dir", "700"),),
        "mode 700 or stricter, root:root",
        "chmod 700 on the directory etcd's --data-dir names (kubeadm: /var/lib/etcd)",
        layer="infrastructure",
    ),
    Control(
        "1.1.21",
        "Kubernetes PKI key files are 600 or stricter",
        "files",
        None,
        ({"glob": "/etc/kubernetes/pki/**/*.key", "mode": "600", "owner": "root:root"},),
        "every *.key under /etc/kubernetes/pki mode 600 or stricter, root:root",
        "chmod 600 /etc/kubernetes/pki/*.key /etc/kubernetes/pki/etcd/*.key",
        layer="infrastructure",
        scored=False,
    ),
    # ---- 1.2 kube-apiserver ------------------------------------------------------------------------------
    _api(
        "1.2.1",
        "Anonymous requests are refused everywhere except the health endpoints",
        [{"anonymous": "restricted"}],
        "--authentication-config with anonymous allowed only on /livez, /readyz, /healthz (1.34+); "
        "or anonymous auth restricted by RBAC to health endpoints (older versions)",
        "on 1.34+: write an AuthenticationConfiguration whose anonymous section lists only /livez, /readyz and "
        "/healthz, mount it, set --authentication-config and remove --anonymous-auth",
        rationale="--anonymous-auth=false breaks kubeadm's own probes (kubernetes#43784)",
    ),
    _api(
        "1.2.1-live",
        "An anonymous request to the API gets 401",
        [{"live": "anonymous_api"}],
        "HTTP 401 for GET /api without credentials, 200 for /livez",
        "restrict anonymous access (control 1.2.1)",
        tags=("live",),
    ),
    _api(
        "1.2.2",
        "--token-auth-file is not set",
        [_flag("--token-auth-file", "unset")],
        "not set",
        "remove --token-auth-file from the kube-apiserver manifest",
    ),
    _api(
        "1.2.4",
        "--kubelet-client-certificate and --kubelet-client-key are set",
        [_flag("--kubelet-client-certificate", "set"), _flag("--kubelet-client-key", "set")],
        "both set",
        "set them to /etc/kubernetes/pki/apiserver-kubelet-client.{crt,key}",
    ),
    _api(
        "1.2.5",
        "--kubelet-certificate-authority is set",
        [_flag("--kubelet-certificate-authority", "set")],
        "set (the cluster CA)",
        "set --kubelet-certificate-authority=/etc/kubernetes/pki/ca.crt",
        scored=False,
        rationale="needs kubelet serving certificates signed by the cluster CA (serverTLSBootstrap); "
        "kubeharden sets it only when the profile says the kubelets serve such certificates",
    ),
    _api(
        "1.2.6",
        "--authorization-mode does not include AlwaysAllow",
        [_flag("--authorization-mode", "nothave", "AlwaysAllow", unset="AlwaysAllow")],
        "no AlwaysAllow",
        "set --authorization-mode=Node,RBAC",
    ),
    _api(
        "1.2.7",
        "--authorization-mode includes Node",
        [_flag("--authorization-mode", "has", "Node")],
        "has Node",
        "set --authorization-mode=Node,RBAC",
    ),
    _api(
        "1.2.8",
        "--authorization-mode includes RBAC",
        [_flag("--authorization-mode", "has", "RBAC")],
        "has RBAC",
        "set --authorization-mode=Node,RBAC",
    ),
    _api(
        "1.2.9",
        "The EventRateLimit admission plugin is set, configured through an AdmissionConfiguration",
        [_flag("--enable-admission-plugins", "has", "EventRateLimit"), _flag("--admission-control-config-file", "set")],
        "has EventRateLimit; --admission-control-config-file set",
        "add EventRateLimit to --enable-admission-plugins and its configuration to the AdmissionConfiguration",
    ),
    _api(
        "1.2.10",
        "The AlwaysAdmit admission plugin is not set",
        [_flag("--enable-admission-plugins", "nothave", "AlwaysAdmit", unset="")],
        "no AlwaysAdmit",
        "remove AlwaysAdmit from --enable-admission-plugins",
    ),
    _api(
        "1.2.12",
        "The ServiceAccount admission plugin is not disabled",
        [_flag("--disable-admission-plugins", "nothave", "ServiceAccount", unset="")],
        "ServiceAccount not disabled",
        "remove ServiceAccount from --disable-admission-plugins",
    ),
    _api(
        "1.2.13",
        "The NamespaceLifecycle admission plugin is not disabled",
        [_flag("--disable-admission-plugins", "nothave", "NamespaceLifecycle", unset="")],
        "NamespaceLifecycle not disabled",
        "remove NamespaceLifecycle from --disable-admission-plugins",
    ),
    _api(
        "1.2.14",
        "The NodeRestriction admission plugin is set",
        [_flag("--enable-admission-plugins", "has", "NodeRestriction")],
        "has NodeRestriction",
        "add NodeRestriction to --enable-admission-plugins",
    ),
    _api(
        "KH-API-PSA",
        "Pod Security Admission defaults are configured through an AdmissionConfiguration",
        [{"admission_config": "pod_security"}],
        "a PodSecurity plugin configuration with enforce/audit/warn defaults",
        "add a PodSecurity entry to the AdmissionConfiguration named by --admission-control-config-file",
    ),
    _api(
        "1.2.15",
        "--profiling is false",
        [_flag("--profiling", "eq", "false", unset="true")],
        "false",
        "set --profiling=false",
    ),
    _api(
        "1.2.16",
        "--audit-log-path is set",
        [_flag("--audit-log-path", "set")],
        "set",
        "set --audit-log-path and mount its directory (DirectoryOrCreate, writable)",
    ),
    _api(
        "1.2.17",
        "--audit-log-maxage is 30 or more",
        [_flag("--audit-log-maxage", "gte", "30")],
        ">= 30",
        "set --audit-log-maxage=30",
    ),
    _api(
        "1.2.18",
        "--audit-log-maxbackup is 10 or more",
        [_flag("--audit-log-maxbackup", "gte", "10")],
        ">= 10",
        "set --audit-log-maxbackup=10",
    ),
    _api(
        "1.2.19",
        "--audit-log-maxsize is 100 or more",
        [_flag("--audit-log-maxsize", "gte", "100")],
        ">= 100",
        "set --audit-log-maxsize=100",
    ),
    _api(
        "1.2.21",
        "--service-account-lookup is true",
        [_flag("--service-account-lookup", "eq", "true", unset="true")],
        "unset or true",
        "remove --service-account-lookup=false or set it to true",
    ),
    _api(
        "1.2.22",
        "--service-account-key-file is set",
        [_flag("--service-account-key-file", "set")],
        "set",
        "set --service-account-key-file=/etc/kubernetes/pki/sa.pub",
    ),
    _api(
        "1.2.23",
        "--etcd-certfile and --etcd-keyfile are set",
        [_flag("--etcd-certfile", "set"), _flag("--etcd-keyfile", "set")],
        "both set",
        "set them to /etc/kubernetes/pki/apiserver-etcd-client.{crt,key}",
    ),
    _api(
        "1.2.24",
        "--tls-cert-file and --tls-private-key-file are set",
        [_flag("--tls-cert-file", "set"), _flag("--tls-private-key-file", "set")],
        "both set",
        "set them to /etc/kubernetes/pki/apiserver.{crt,key}",
    ),
    _api(
        "1.2.25",
        "--client-ca-file is set",
        [_flag("--client-ca-file", "set")],
        "set",
        "set --client-ca-file=/etc/kubernetes/pki/ca.crt",
    ),
    _api(
        "1.2.26",
        "--etcd-cafile is set",
        [_flag("--etcd-cafile", "set")],
        "set",
        "set --etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
    ),
    _api(
        "1.2.29",
        "Only strong TLS cipher suites are accepted",
        [_flag("--tls-cipher-suites", "subset", ",".join(STRONG_CIPHER_SUITES))],
        "a subset of: " + ",".join(STRONG_CIPHER_SUITES),
        "set --tls-cipher-suites to strong ECDHE AES-GCM / CHACHA20 suites",
    ),
    _api(
        "KH-API-TLS",
        "The minimum TLS version is 1.2 or higher",
        [_flag("--tls-min-version", "in", "VersionTLS12,VersionTLS13")],
        "VersionTLS12 or VersionTLS13",
        "set --tls-min-version=VersionTLS12",
    ),
    _api(
        "KH-API-TLS-live",
        "A TLS 1.1 handshake with the API server is refused",
        [{"live": "tls11_refused"}],
        "handshake refused",
        "set --tls-min-version=VersionTLS12",
        tags=("live",),
    ),
    _api(
        "1.2.30",
        "--service-account-extend-token-expiration is false",
        [_flag("--service-account-extend-token-expiration", "eq", "false", unset="true")],
        "false",
        "set --service-account-extend-token-expiration=false",
    ),
    _api(
        "KH-API-INSECURE",
        "No insecure port is served",
        [_flag("--insecure-port", "in", "0", unset="0"), {"live": "insecure_port_closed"}],
        "--insecure-port absent (1.24+) or 0, and nothing listening on 8080",
        "remove --insecure-port/--insecure-bind-address on 1.24+ (set --insecure-port=0 on 1.20-1.23)",
    ),
    _api(
        "3.2.1",
        "An audit policy is configured",
        [_flag("--audit-policy-file", "set")],
        "--audit-policy-file set (with its read-only mount)",
        "write an audit Policy, mount it read-only, set --audit-policy-file",
    ),
    # ---- 1.3 kube-controller-manager ---------------------------------------------------------------------
    *(
        Control(cid, title, "controller-manager", CONTROLLER_MANAGER, (test,), expected, fix)
        for cid, title, test, expected, fix in (
            (
                "1.3.1",
                "--terminated-pod-gc-threshold is set",
                _flag("--terminated-pod-gc-threshold", "set"),
                "set",
                "set --terminated-pod-gc-threshold (e.g. 10)",
            ),
            (
                "1.3.2",
                "--profiling is false",
                _flag("--profiling", "eq", "false", unset="true"),
                "false",
                "set --profiling=false",
            ),
            (
                "1.3.3",
                "--use-service-account-credentials is true",
                _flag("--use-service-account-credentials", "eq", "true", unset="false"),
                "true",
                "set --use-service-account-credentials=true",
            ),
            (
                "1.3.4",
                "--service-account-private-key-file is set",
                _flag("--service-account-private-key-file", "set"),
                "set",
                "set --service-account-private-key-file=/etc/kubernetes/pki/sa.key",
            ),
            (
                "1.3.5",
                "--root-ca-file is set",
                _flag("--root-ca-file", "set"),
                "set",
                "set --root-ca-file=/etc/kubernetes/pki/ca.crt",
            ),
            (
                "1.3.6",
                "RotateKubeletServerCertificate is not disabled",
                _flag("--feature-gates", "nothave", "RotateKubeletServerCertificate=false", unset=""),
                "not RotateKubeletServerCertificate=false",
                "remove RotateKubeletServerCertificate=false from --feature-gates",
            ),
            (
                "1.3.7",
                "--bind-address is 127.0.0.1",
                _flag("--bind-address", "eq", "127.0.0.1", unset="0.0.0.0"),
                "127.0.0.1",
                "set --bind-address=127.0.0.1",
            ),
        )
    ),
    # ---- 1.4 kube-scheduler ------------------------------------------------------------------------------
    Control(
        "1.4.1",
        "--profiling is false",
        "scheduler",
        SCHEDULER,
        (_flag("--profiling", "eq", "false", unset="true"),),
        "false",
        "set --profiling=false",
    ),
    Control(
        "1.4.2",
        "--bind-address is 127.0.0.1",
        "scheduler",
        SCHEDULER,
        (_flag("--bind-address", "eq", "127.0.0.1", unset="0.0.0.0"),),
        "127.0.0.1",
        "set --bind-address=127.0.0.1",
    ),
    # ---- encryption at rest -----------------------------------------------------------------------------
    *(
        Control(cid, title, "encryption", APISERVER, tuple(tests), expected, fix, **kw)
        for cid, title, tests, expected, fix, kw in (
            (
                "1.2.27",
                "--encryption-provider-config is set",
                [_flag("--encryption-provider-config", "set")],
                "set to kubeharden's EncryptionConfiguration",
                "kubeharden harden (writes the file with a key generated once, mounts it, sets the flag)",
                {},
            ),
            (
                "1.2.28",
                "Encryption providers are appropriately configured (the whole file: the first provider encrypts)",
                [{"encryption": "provider"}],
                "first provider secretbox or kms for every configured resource (aescbc/aesgcm: WARN), never identity",
                "set kubeharden_encryption_provider to secretbox or kms and run kubeharden harden",
                {},
            ),
            (
                "KH-ENC-FILE",
                "The EncryptionConfiguration is mode 600 or stricter and owned by root:root",
                [_file("flag:kube-apiserver:--encryption-provider-config", "600")],
                "mode 600 or stricter, root:root",
                "chmod 600 and chown root:root the file --encryption-provider-config names",
                {"layer": "infrastructure"},
            ),
            (
                "KH-ENC-SAME",
                "The EncryptionConfiguration is identical on every control plane (compared by sha256)",
                [{"encryption": "identical"}],
                "the same sha256 on every control plane",
                "make the file identical everywhere (copy the one the running apiservers use), then kubeharden harden",
                {},
            ),
            (
                "KH-ENC-live",
                "Secrets are stored encrypted in etcd (raw value starts with k8s:enc:<provider>:v1:<key>:)",
                [{"encryption": "etcd"}],
                "every sampled raw value starts with k8s:enc:<first provider>:v1:<first key name>:",
                "kubeharden harden (rewrites existing Secrets after enabling encryption); "
                "kubectl get secrets -A -o json | kubectl replace -f -",
                {"tags": ("live",)},
            ),
            (
                "KH-ENC-VOLUME",
                "The etcd data directory lives on an encrypted block device (dm-crypt/LUKS); reported, never changed",
                [{"encryption": "volume"}],
                "etcd's --data-dir on a dm-crypt device",
                "move /var/lib/etcd to a LUKS volume (cryptsetup luksFormat; kubeharden never changes disks)",
                {"layer": "infrastructure", "scored": False},
            ),
        )
    ),
    # ---- 2 etcd ------------------------------------------------------------------------------------------
    *(
        Control(cid, title, "etcd", ETCD, tuple(tests), expected, fix, tags=("live",) if cid.endswith("-live") else ())
        for cid, title, tests, expected, fix in (
            (
                "2.1",
                "--cert-file and --key-file are set",
                [_flag("--cert-file", "set"), _flag("--key-file", "set")],
                "both set",
                "set them to /etc/kubernetes/pki/etcd/server.{crt,key}",
            ),
            (
                "2.2",
                "--client-cert-auth is true",
                [_flag("--client-cert-auth", "eq", "true", unset="false")],
                "true",
                "set --client-cert-auth=true",
            ),
            (
                "2.3",
                "--auto-tls is not true",
                [_flag("--auto-tls", "eq", "false", unset="false")],
                "unset or false",
                "remove --auto-tls",
            ),
            (
                "2.4",
                "--peer-cert-file and --peer-key-file are set",
                [_flag("--peer-cert-file", "set"), _flag("--peer-key-file", "set")],
                "both set",
                "set them to /etc/kubernetes/pki/etcd/peer.{crt,key}",
            ),
            (
                "2.5",
                "--peer-client-cert-auth is true",
                [_flag("--peer-client-cert-auth", "eq", "true", unset="false")],
                "true",
                "set --peer-client-cert-auth=true",
            ),
            (
                "2.6",
                "--peer-auto-tls is not true",
                [_flag("--peer-auto-tls", "eq", "false", unset="false")],
                "unset or false",
                "remove --peer-auto-tls",
            ),
            (
                "2.7",
                "--trusted-ca-file and --peer-trusted-ca-file are set",
                [_flag("--trusted-ca-file", "set"), _flag("--peer-trusted-ca-file", "set")],
                "both set (etcd's own CA)",
                "set them to /etc/kubernetes/pki/etcd/ca.crt",
            ),
            (
                "KH-ETCD-URLS",
                "Client and peer URLs are https only (the loopback metrics listener may stay http)",
                [{"urls": ["--listen-client-urls", "--listen-peer-urls", "--advertise-client-urls"]}],
                "every URL https://",
                "use https:// in --listen-client-urls, --listen-peer-urls and --advertise-client-urls",
            ),
            (
                "KH-ETCD-CLIENT-live",
                "etcd refuses a client without a certificate",
                [{"live": "etcd_requires_client_cert"}],
                "TLS handshake without a client certificate refused",
                "set --client-cert-auth=true",
            ),
        )
    ),
    # ---- firewall (every host) ---------------------------------------------------------------------------
    *(
        Control(cid, title, "firewall", None, (test,), expected, fix, "infrastructure", BOTH_ROLES, tags=tags)
        for cid, title, test, expected, fix, tags in (
            (
                "KH-FW-TABLE",
                "The kubeharden nftables table is loaded and its input chain drops what it does not allow",
                {"firewall": "loaded"},
                "table inet kubeharden loaded, input hook policy drop, with rules",
                "kubeharden harden --only firewall (nft -j list table inet kubeharden shows what is loaded)",
                (),
            ),
            (
                "KH-FW-PERSIST",
                "The firewall is persistent: its file is included from /etc/nftables.conf and nftables.service is "
                "enabled",
                {"firewall": "persistent"},
                "/etc/nftables.d/kubeharden.nft mode 600 root:root, included from /etc/nftables.conf; "
                "nftables.service enabled",
                "kubeharden harden --only firewall (persists only after the new ruleset was confirmed)",
                (),
            ),
            (
                "KH-FW-live",
                "Ports the operator's address must not reach give no connection from this machine",
                {"live": "firewall_filters"},
                "no TCP connection to the kubelet 10250 (and etcd peer 2380 on control planes) from here",
                "load the firewall (kubeharden harden --only firewall); only control-plane nodes may reach these ports",
                ("live",),
            ),
        )
    ),
)


def by_id() -> dict[str, Control]:
    return {c.id: c for c in CONTROLS}


def for_area(areas: Iterable[str]) -> list[Control]:
    wanted = set(areas)
    return [c for c in CONTROLS if c.area in wanted]


def validate_catalog(controls: Iterable[Control] = CONTROLS) -> list[str]:
    """Structural checks of the catalog itself (unique IDs, known areas and ops); run by the unit tests."""
    problems, seen = [], set()
    ops = {"eq", "noteq", "set", "unset", "has", "nothave", "gte", "subset", "in"}
    for c in controls:
        if c.id in seen:
            problems.append(f"duplicate control id {c.id}")
        seen.add(c.id)
        if c.area not in AREAS:
            problems.append(f"{c.id}: unknown area {c.area}")
        for t in c.tests:
            if "flag" in t and t["op"] not in ops:
                problems.append(f"{c.id}: unknown op {t['op']}")
        if not c.remediation or not c.expected:
            problems.append(f"{c.id}: remediation and expected value are required")
    return problems


def coverage_markdown(controls: Iterable[Control] = CONTROLS) -> str:
    """The README's coverage table, generated from the catalog (a unit test keeps the README in step)."""
    lines = ["| ID | Area | Control | Expected | Scored |", "|---|---|---|---|---|"]
    for c in controls:
        expected = c.expected.replace("|", "\\|")
        lines.append(f"| {c.id} | {c.area} | {c.title} | {expected} | {'yes' if c.scored else 'no (WARN)'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(coverage_markdown(), end="")
