"""The hardening profile: every setting declared once (type, default, bounds, what it does), validated up front.

In the spirit of dev-sec's argument specs: each knob is a ``Knob`` in SCHEMA, with the ``kubeharden_`` prefix and
a sentence of documentation; defaults become pyinfra ``data_defaults``; validation and the settings table of
docs/profile.md are generated from it. The benchmark's floors are not repeated here: they come from the catalog's
``Param(cis=...)`` values (kubeharden.core.profile_checks). A control is switched off only by a waiver with a
written reason. Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubeharden.core.catalog import AREAS, STRONG_CIPHER_SUITES

Kind = Literal["bool", "int", "str", "path", "list", "map", "ip", "port", "choice"]


@dataclass(frozen=True)
class Knob:
    """One profile setting. ``optional`` knobs may be None (meaning: keep what kubeadm set)."""

    key: str
    default: Any
    kind: Kind
    doc: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False


PSA_LEVELS = ("privileged", "baseline", "restricted")
ENCRYPTION_PROVIDERS = ("secretbox", "aescbc", "aesgcm", "kms")
ENCRYPTION_RESOURCES = ("secrets", "configmaps")
MIN_REASON = 10

_SWITCHES = tuple(
    Knob(f"kubeharden_{area.replace('-', '_')}_enabled", True, "bool", f"Harden the area {area}: {doc}.")
    for area, doc in AREAS.items()
)

SCHEMA: tuple[Knob, ...] = (
    *_SWITCHES,
    Knob(
        "kubeharden_waivers",
        {},
        "map",
        "{control ID or area: reason}: the only way to turn a control off; shown in every report.",
    ),
    Knob(
        "kubeharden_apiserver_bind_address",
        None,
        "ip",
        "kube-apiserver --bind-address; None keeps kubeadm's.",
        optional=True,
    ),
    Knob(
        "kubeharden_apiserver_secure_port",
        None,
        "port",
        "kube-apiserver --secure-port; None keeps kubeadm's (never 0).",
        optional=True,
    ),
    Knob(
        "kubeharden_tls_min_version",
        "1.2",
        "choice",
        "Minimum TLS version of every control-plane component.",
        choices=("1.2", "1.3"),
    ),
    Knob(
        "kubeharden_tls_cipher_suites",
        list(STRONG_CIPHER_SUITES),
        "list",
        "Cipher suites of kube-apiserver, controller-manager and scheduler (a subset of CIS 1.2.29's strong ones).",
    ),
    Knob("kubeharden_audit_policy_file", "/etc/kubernetes/audit/policy.yaml", "path", "The audit Policy (3.2.1)."),
    Knob("kubeharden_audit_log_path", "/var/log/kubernetes/audit/audit.log", "path", "The audit log (1.2.16)."),
    Knob("kubeharden_audit_log_maxage", 30, "int", "Days of audit logs kept (1.2.17)."),
    Knob("kubeharden_audit_log_maxbackup", 10, "int", "Rotated audit log files kept (1.2.18)."),
    Knob("kubeharden_audit_log_maxsize", 100, "int", "Audit log size in MB before rotation (1.2.19)."),
    Knob(
        "kubeharden_admission_config_file",
        "/etc/kubernetes/admission/admission-config.yaml",
        "path",
        "The AdmissionConfiguration (PodSecurity defaults, EventRateLimit; 1.2.9).",
    ),
    Knob(
        "kubeharden_admission_plugins",
        [],
        "list",
        "More admission plugins to enable (KH-API-ADMISSION); NodeRestriction and EventRateLimit always are.",
    ),
    Knob(
        "kubeharden_always_pull_images",
        False,
        "bool",
        "Enable AlwaysPullImages (1.2.11): every pod start then needs the registry.",
    ),
    Knob(
        "kubeharden_deny_service_external_ips",
        False,
        "bool",
        "Enable DenyServiceExternalIPs (1.2.3): Services with spec.externalIPs are refused.",
    ),
    Knob(
        "kubeharden_pod_security_enforce",
        "baseline",
        "choice",
        "Pod Security Admission default enforce level.",
        PSA_LEVELS,
    ),
    Knob("kubeharden_pod_security_audit", "restricted", "choice", "Pod Security Admission audit level.", PSA_LEVELS),
    Knob("kubeharden_pod_security_warn", "restricted", "choice", "Pod Security Admission warn level.", PSA_LEVELS),
    Knob(
        "kubeharden_pod_security_exempt_namespaces",
        ["kube-system"],
        "list",
        "Namespaces exempt from Pod Security Admission.",
    ),
    Knob("kubeharden_event_rate_limit_qps", 50, "int", "EventRateLimit server-wide queries per second.", minimum=1),
    Knob("kubeharden_event_rate_limit_burst", 100, "int", "EventRateLimit server-wide burst.", minimum=1),
    Knob(
        "kubeharden_authentication_config_file",
        "/etc/kubernetes/authn/authentication-config.yaml",
        "path",
        "The AuthenticationConfiguration restricting anonymous requests to health endpoints (1.2.1, 1.34+).",
    ),
    Knob(
        "kubeharden_kubelet_serving_certs_signed",
        False,
        "bool",
        "The kubelets serve certificates signed by the cluster CA (serverTLSBootstrap): set "
        "--kubelet-certificate-authority (1.2.5).",
    ),
    Knob(
        "kubeharden_terminated_pod_gc_threshold",
        10,
        "int",
        "kube-controller-manager --terminated-pod-gc-threshold when none is set (1.3.1).",
        minimum=1,
    ),
    *(
        Knob(
            f"kubeharden_{name}_extra_args",
            {},
            "map",
            f"Extra {component} flags, {{'--flag': 'value'}}, applied last and held to every control's test.",
        )
        for name, component in (
            ("apiserver", "kube-apiserver"),
            ("controller_manager", "kube-controller-manager"),
            ("scheduler", "kube-scheduler"),
            ("etcd", "etcd"),
        )
    ),
    Knob(
        "kubeharden_encryption_provider",
        "secretbox",
        "choice",
        "Provider that encrypts (first); kms: kubeharden writes the config, the KMS plugin is yours.",
        ENCRYPTION_PROVIDERS,
    ),
    Knob("kubeharden_encryption_resources", ["secrets"], "list", "Resources encrypted at rest (secrets, configmaps)."),
    Knob(
        "kubeharden_encryption_config_file",
        "/etc/kubernetes/encryption/encryption-config.yaml",
        "path",
        "The EncryptionConfiguration (mode 600, in a 700 directory).",
    ),
    Knob("kubeharden_encryption_kms_name", "", "str", "The KMS v2 plugin's name (provider kms)."),
    Knob("kubeharden_encryption_kms_endpoint", "", "str", "The KMS v2 plugin's socket, unix:///path (provider kms)."),
    Knob(
        "kubeharden_kubelet_pod_pids_limit",
        4096,
        "int",
        "The kubelet's podPidsLimit: processes one pod may run (4.2.13; the kubelet's default -1 is unlimited).",
        minimum=1,
    ),
    Knob(
        "kubeharden_kubelet_kernel_sysctls",
        True,
        "bool",
        "Write the kernel settings the kubelet needs to /etc/sysctl.d/90-kubelet.conf and apply them before turning "
        "protectKernelDefaults on; false: they are managed elsewhere (a kubelet that finds them different exits).",
    ),
    Knob(
        "kubeharden_health_timeout",
        180,
        "int",
        "Seconds a restarted component has to be healthy again before its backup is restored.",
        minimum=10,
    ),
    Knob(
        "kubeharden_backup_dir",
        "/var/backups/kubeharden",
        "path",
        "Where changed files are backed up (never the manifests directory).",
    ),
    Knob(
        "kubeharden_firewall_admin_cidrs",
        [],
        "list",
        "Addresses/CIDRs the operator connects from: the only SSH sources; required while the firewall is on.",
    ),
    Knob(
        "kubeharden_firewall_load_balancers",
        [],
        "list",
        "Load balancers in front of kube-apiserver (its port and kube-proxy health 10256).",
    ),
    Knob(
        "kubeharden_firewall_cni",
        "none",
        "choice",
        "The CNI whose data-plane ports are opened between nodes.",
        ("none", "calico", "cilium", "flannel"),
    ),
    Knob(
        "kubeharden_firewall_nodeport_roles",
        ["workers"],
        "list",
        "Roles whose NodePort range is open to everyone.",
    ),
    Knob("kubeharden_firewall_nodeport_range", "30000-32767", "str", "The NodePort range (--service-node-port-range)."),
    Knob(
        "kubeharden_firewall_icmp",
        "echo",
        "choice",
        "ICMP accepted: echo (ping), all or none (IPv6 neighbour discovery always passes).",
        ("echo", "all", "none"),
    ),
    Knob(
        "kubeharden_firewall_custom_rules",
        [],
        "list",
        "More accept rules, 'PROTO PORT[-PORT] [from SOURCE]' (SOURCE: a CIDR, any, admin, nodes, control_plane, "
        "workers, load_balancers).",
    ),
    Knob("kubeharden_firewall_ssh_port", 22, "port", "The SSH port kept open for the admin CIDRs."),
    Knob(
        "kubeharden_firewall_confirm_timeout",
        45,
        "int",
        "Seconds until a host restores its previous ruleset unless kubeharden confirms over a new SSH connection.",
        minimum=15,
        maximum=600,
    ),
)

KNOBS: Mapping[str, Knob] = {knob.key: knob for knob in SCHEMA}
DEFAULTS: dict[str, Any] = {knob.key: knob.default for knob in SCHEMA}
AREA_SWITCHES: Mapping[str, str] = {area: f"kubeharden_{area.replace('-', '_')}_enabled" for area in AREAS}
EXTRA_ARGS: Mapping[str, str] = {
    "kubeharden_apiserver_extra_args": "kube-apiserver",
    "kubeharden_controller_manager_extra_args": "kube-controller-manager",
    "kubeharden_scheduler_extra_args": "kube-scheduler",
    "kubeharden_etcd_extra_args": "etcd",
}


class ProfileError(ValueError):
    """The profile or inventory is invalid; ``problems`` lists every finding as a sentence."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid hardening profile:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Profile:
    """The effective profile of one host: defaults overlaid by its inventory data."""

    values: Mapping[str, Any]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    @property
    def waivers(self) -> dict[str, str]:
        return dict(self.values["kubeharden_waivers"])

    def waived(self, control_id: str, area: str) -> str | None:
        """The reason a control is off (its own waiver, its area's, or its area switched off), or None."""
        waivers = self.waivers
        reason = waivers.get(control_id) or waivers.get(area)
        if reason is None and area in AREA_SWITCHES and self.values.get(AREA_SWITCHES[area]) is False:
            return f"{AREA_SWITCHES[area]} is false"
        return reason

    def area_enabled(self, area: str) -> bool:
        return bool(self.values[AREA_SWITCHES[area]]) and area not in self.values["kubeharden_waivers"]


def effective_profile(host_data: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid by a host's data (pyinfra's own priority has already merged group and host data)."""
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in host_data.items() if k.startswith("kubeharden_") and k in KNOBS})
    return merged


def validate_profile(host_data: Mapping[str, Any], where: str) -> Profile:
    """Validate one host's data; raise ProfileError listing every problem."""
    from kubeharden.core.profile_checks import check_types, check_values

    problems = check_types(host_data, where)
    if problems:
        raise ProfileError(problems)
    merged = effective_profile(host_data)
    problems = check_values(merged, where)
    if problems:
        raise ProfileError(problems)
    return Profile(merged)


def settings_markdown() -> str:
    """The settings table of docs/profile.md, generated from SCHEMA (a unit test keeps the file in step)."""
    from kubeharden.core.catalog import profile_feeds

    feeds = profile_feeds()
    lines = ["| Setting | Default | What it does | Feeds |", "|---|---|---|---|"]
    for knob in SCHEMA:
        shown = repr(knob.default).replace("|", "\\|")
        if len(shown) > 60:
            shown = shown[:57] + "..."
        controls = ", ".join(feeds.get(knob.key, []))
        lines.append(f"| `{knob.key}` | `{shown}` | {knob.doc} | {controls} |")
    return "\n".join(lines) + "\n"
