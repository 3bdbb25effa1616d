"""The hardening profile: documented defaults (pyinfra data_defaults), overrides and waivers, validated up front.

Every knob carries the `kubeharden_` prefix and is named for what it does. A control is switched off only by a
waiver with a written reason (`kubeharden_waivers = {"1.2.15": "why"}`; a whole area by its name), and waivers
appear in every report. `validate_profile` runs on the whole inventory before any host is contacted: bad input
is a clear message naming the host and the key. Pure logic, no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubeharden.catalog import AREAS, STRONG_CIPHER_SUITES, by_id
from kubeharden.firewall import check_settings as check_firewall

DEFAULTS: dict[str, Any] = {
    # One switch per area; switching one off needs a waiver with a reason (see kubeharden_waivers).
    "kubeharden_apiserver_enabled": True,
    "kubeharden_etcd_enabled": True,
    "kubeharden_controller_manager_enabled": True,
    "kubeharden_scheduler_enabled": True,
    "kubeharden_files_enabled": True,
    "kubeharden_firewall_enabled": True,
    "kubeharden_encryption_enabled": True,
    # {control ID or area name: "reason"}: the only way to turn a control off; shown in every report.
    "kubeharden_waivers": {},
    # kube-apiserver bind address and secure port; None keeps what kubeadm set.
    "kubeharden_apiserver_bind_address": None,
    "kubeharden_apiserver_secure_port": None,
    # TLS for every control-plane component ("1.2" or "1.3"), and the apiserver's cipher suites.
    "kubeharden_tls_min_version": "1.2",
    "kubeharden_tls_cipher_suites": list(STRONG_CIPHER_SUITES),
    # Audit logging (CIS 1.2.16-1.2.19, 3.2.1).
    "kubeharden_audit_policy_file": "/etc/kubernetes/audit/policy.yaml",
    "kubeharden_audit_log_path": "/var/log/kubernetes/audit/audit.log",
    "kubeharden_audit_log_maxage": 30,
    "kubeharden_audit_log_maxbackup": 10,
    "kubeharden_audit_log_maxsize": 100,
    # Admission: the AdmissionConfiguration (PodSecurity defaults, EventRateLimit; CIS 1.2.9).
    "kubeharden_admission_config_file": "/etc/kubernetes/admission/admission-config.yaml",
    "kubeharden_admission_plugins": ["NodeRestriction", "EventRateLimit"],
    "kubeharden_pod_security_enforce": "baseline",
    "kubeharden_pod_security_audit": "restricted",
    "kubeharden_pod_security_warn": "restricted",
    "kubeharden_pod_security_exempt_namespaces": ["kube-system"],
    "kubeharden_event_rate_limit_qps": 50,
    "kubeharden_event_rate_limit_burst": 100,
    # Anonymous access restricted to the health endpoints (1.34+: AuthenticationConfiguration).
    "kubeharden_authentication_config_file": "/etc/kubernetes/authn/authentication-config.yaml",
    # Set --kubelet-certificate-authority only when kubelets serve certificates signed by the cluster CA.
    "kubeharden_kubelet_serving_certs_signed": False,
    # kube-controller-manager
    "kubeharden_terminated_pod_gc_threshold": 10,
    # Extra flags per component, {"--flag": "value"}, applied last (checked against the version's flags and the
    # values kubeharden never writes). For settings this profile has no knob for.
    "kubeharden_apiserver_extra_args": {},
    "kubeharden_controller_manager_extra_args": {},
    "kubeharden_scheduler_extra_args": {},
    "kubeharden_etcd_extra_args": {},
    # Secrets encryption at rest (CIS 1.2.27, 1.2.28): provider secretbox | aescbc | aesgcm | kms (v2; kubeharden
    # writes the config, the KMS plugin at the endpoint is yours), resources ("secrets", optionally "configmaps").
    "kubeharden_encryption_provider": "secretbox",
    "kubeharden_encryption_resources": ["secrets"],
    "kubeharden_encryption_config_file": "/etc/kubernetes/encryption/encryption-config.yaml",
    "kubeharden_encryption_kms_name": "",
    "kubeharden_encryption_kms_endpoint": "",
    # Applying: how long a component may take to be healthy again, and where backups go (never the manifests dir).
    "kubeharden_health_timeout": 180,
    "kubeharden_backup_dir": "/var/backups/kubeharden",
    # Firewall (nftables table inet kubeharden, every host; kubeharden/firewall.py). Addresses or CIDRs the operator
    # connects from: the only sources of SSH; required while the firewall is on.
    "kubeharden_firewall_admin_cidrs": [],
    # Load balancers in front of the API server (allowed to the apiserver port and kube-proxy health 10256).
    "kubeharden_firewall_load_balancers": [],
    # The CNI whose data-plane ports are opened between nodes: calico, cilium, flannel or none.
    "kubeharden_firewall_cni": "none",
    # Roles whose NodePort range is open to everyone, and the range (kube-apiserver --service-node-port-range).
    "kubeharden_firewall_nodeport_roles": ["workers"],
    "kubeharden_firewall_nodeport_range": "30000-32767",
    # ICMP accepted: "echo" (ping), "all" or "none" (IPv6 neighbour discovery and related errors always pass).
    "kubeharden_firewall_icmp": "echo",
    # More accept rules, "PROTO PORT[-PORT] [from SOURCE]"; SOURCE: a CIDR, any, admin, nodes, control_plane,
    # workers or load_balancers. Example: "tcp 9100 from 10.0.0.0/24".
    "kubeharden_firewall_custom_rules": [],
    # The SSH port to keep open for the admin CIDRs.
    "kubeharden_firewall_ssh_port": 22,
    # Commit-confirm: seconds until the host restores its previous ruleset by itself unless kubeharden confirms
    # over a NEW SSH connection.
    "kubeharden_firewall_confirm_timeout": 45,
}

AREA_SWITCHES = {
    "apiserver": "kubeharden_apiserver_enabled",
    "etcd": "kubeharden_etcd_enabled",
    "controller-manager": "kubeharden_controller_manager_enabled",
    "scheduler": "kubeharden_scheduler_enabled",
    "files": "kubeharden_files_enabled",
    "firewall": "kubeharden_firewall_enabled",
    "encryption": "kubeharden_encryption_enabled",
}
PSA_LEVELS = ("privileged", "baseline", "restricted")
MIN_REASON = 10


class ProfileError(ValueError):
    """The profile or inventory is invalid; `problems` lists every finding as a sentence."""

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
        """The reason a control is off, or None when it applies."""
        waivers = self.waivers
        return waivers.get(control_id) or waivers.get(area)

    def area_enabled(self, area: str) -> bool:
        return bool(self.values[AREA_SWITCHES[area]])


def _is_abs(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and "\n" not in value and ".." not in value.split("/")


def _check_types(data: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for key, value in data.items():
        if not key.startswith("kubeharden_"):
            continue
        if key not in DEFAULTS:
            close = [k for k in DEFAULTS if k.split("_")[1:2] == key.split("_")[1:2]]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            problems.append(f"{where}: unknown setting {key}{hint}")
            continue
        default = DEFAULTS[key]
        if isinstance(default, bool) and not isinstance(value, bool):
            problems.append(f"{where}: {key} must be true or false, got {value!r}")
        elif isinstance(default, int) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                problems.append(f"{where}: {key} must be a non-negative whole number, got {value!r}")
        elif isinstance(default, list) and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            problems.append(f"{where}: {key} must be a list of strings, got {value!r}")
        elif isinstance(default, dict) and not isinstance(value, dict):
            problems.append(f"{where}: {key} must be a mapping, got {value!r}")
        elif isinstance(default, str) and not isinstance(value, str):
            problems.append(f"{where}: {key} must be a string, got {value!r}")
    return problems


def _check_values(p: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    if p["kubeharden_tls_min_version"] not in ("1.2", "1.3"):
        problems.append(
            f"{where}: kubeharden_tls_min_version must be '1.2' or '1.3', got {p['kubeharden_tls_min_version']!r}"
        )
    weak = [s for s in p["kubeharden_tls_cipher_suites"] if s not in STRONG_CIPHER_SUITES]
    if weak or not p["kubeharden_tls_cipher_suites"]:
        problems.append(
            f"{where}: kubeharden_tls_cipher_suites must be a non-empty list of strong suites; "
            f"not allowed: {', '.join(weak) or '(empty list)'}"
        )
    for key in (
        "kubeharden_audit_policy_file",
        "kubeharden_audit_log_path",
        "kubeharden_admission_config_file",
        "kubeharden_authentication_config_file",
        "kubeharden_encryption_config_file",
        "kubeharden_backup_dir",
    ):
        if not _is_abs(p[key]):
            problems.append(f"{where}: {key} must be an absolute path without '..', got {p[key]!r}")
    if _is_abs(p["kubeharden_backup_dir"]) and p["kubeharden_backup_dir"].rstrip("/").startswith(
        "/etc/kubernetes/manifests"
    ):
        problems.append(
            f"{where}: kubeharden_backup_dir must be outside /etc/kubernetes/manifests "
            "(the kubelet runs every file there, a backup would start a second component)"
        )
    for key, minimum in (
        ("kubeharden_audit_log_maxage", 30),
        ("kubeharden_audit_log_maxbackup", 10),
        ("kubeharden_audit_log_maxsize", 100),
    ):
        if isinstance(p[key], int) and p[key] < minimum:
            problems.append(f"{where}: {key} must be at least {minimum} (CIS), got {p[key]}; waive the control instead")
    for key in ("kubeharden_pod_security_enforce", "kubeharden_pod_security_audit", "kubeharden_pod_security_warn"):
        if p[key] not in PSA_LEVELS:
            problems.append(f"{where}: {key} must be one of {', '.join(PSA_LEVELS)}, got {p[key]!r}")
    bind = p["kubeharden_apiserver_bind_address"]
    if bind is not None:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            problems.append(f"{where}: kubeharden_apiserver_bind_address must be an IP address, got {bind!r}")
    port = p["kubeharden_apiserver_secure_port"]
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        problems.append(f"{where}: kubeharden_apiserver_secure_port must be 1-65535 (never 0), got {port!r}")
    plugins = p["kubeharden_admission_plugins"]
    if "AlwaysAdmit" in plugins:
        problems.append(f"{where}: kubeharden_admission_plugins must not contain AlwaysAdmit")
    if p["kubeharden_health_timeout"] < 10:
        problems.append(f"{where}: kubeharden_health_timeout must be at least 10 seconds")
    problems += _check_encryption(p, where)
    problems += _check_extra_args(p, where)
    problems += check_firewall(p, where)
    problems += _check_waivers(p, where)
    return problems


ENCRYPTION_PROVIDERS = ("secretbox", "aescbc", "aesgcm", "kms")
ENCRYPTION_RESOURCES = ("secrets", "configmaps")


def _check_encryption(p: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    provider, resources = p["kubeharden_encryption_provider"], p["kubeharden_encryption_resources"]
    if provider not in ENCRYPTION_PROVIDERS:
        problems.append(
            f"{where}: kubeharden_encryption_provider must be one of {', '.join(ENCRYPTION_PROVIDERS)}, "
            f"got {provider!r}"
        )
    unknown = [r for r in resources if r not in ENCRYPTION_RESOURCES]
    if unknown or "secrets" not in resources:
        problems.append(
            f"{where}: kubeharden_encryption_resources must contain 'secrets' and may add 'configmaps'; "
            f"got {resources!r}"
        )
    if provider == "kms":
        name, endpoint = p["kubeharden_encryption_kms_name"], p["kubeharden_encryption_kms_endpoint"]
        if not name or ":" in name:
            problems.append(f"{where}: kubeharden_encryption_kms_name must name the KMS plugin (no ':'), got {name!r}")
        if not endpoint.startswith("unix:///") or len(endpoint) <= len("unix:///"):
            problems.append(
                f"{where}: kubeharden_encryption_kms_endpoint must be the plugin's socket, unix:///path, "
                f"got {endpoint!r}"
            )
    path = p["kubeharden_encryption_config_file"]
    if _is_abs(path) and path.rsplit("/", 1)[0].rstrip("/") == "/etc/kubernetes/manifests":
        problems.append(
            f"{where}: kubeharden_encryption_config_file must be outside /etc/kubernetes/manifests "
            "(the kubelet runs every file there)"
        )
    return problems


EXTRA_ARGS = {
    "kubeharden_apiserver_extra_args": "kube-apiserver",
    "kubeharden_controller_manager_extra_args": "kube-controller-manager",
    "kubeharden_scheduler_extra_args": "kube-scheduler",
    "kubeharden_etcd_extra_args": "etcd",
}


def _check_extra_args(p: Mapping[str, Any], where: str) -> list[str]:
    from kubeharden.versions import never_write

    problems = []
    for key, component in EXTRA_ARGS.items():
        args = p[key]
        bad = [k for k, v in args.items() if not (isinstance(k, str) and k.startswith("--") and isinstance(v, str))]
        if bad:
            problems.append(
                f"{where}: {key} must map '--flag' names to string values; check {', '.join(map(str, bad))}"
            )
            continue
        problems += [f"{where}: {key}: {p}" for p in never_write(component, args)]
    return problems


def _check_waivers(p: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    controls = by_id()
    waivers = p["kubeharden_waivers"]
    for key, reason in waivers.items():
        if key not in controls and key not in AREAS:
            problems.append(f"{where}: kubeharden_waivers names {key!r}, which is neither a control ID nor an area")
        if not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
            problems.append(
                f"{where}: kubeharden_waivers[{key!r}] needs a written reason (at least {MIN_REASON} characters)"
            )
    for area, switch in AREA_SWITCHES.items():
        if p[switch] is False and area not in waivers:
            problems.append(
                f"{where}: {switch} is false but no waiver says why: add kubeharden_waivers[{area!r}] = 'reason'"
            )
    return problems


def effective_profile(host_data: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults overlaid by a host's data (pyinfra's own priority has already merged group and host data)."""
    merged = dict(DEFAULTS)
    merged.update({k: v for k, v in host_data.items() if k.startswith("kubeharden_")})
    return merged


def validate_profile(host_data: Mapping[str, Any], where: str) -> Profile:
    """Validate one host's data; raise ProfileError listing every problem."""
    problems = _check_types(host_data, where)
    if problems:
        raise ProfileError(problems)
    merged = effective_profile(host_data)
    problems = _check_values(merged, where)
    if problems:
        raise ProfileError(problems)
    return Profile(merged)


def validate_inventory(hosts: Mapping[str, tuple[list[str], Mapping[str, Any]]]) -> dict[str, Profile]:
    """Validate every host (name -> (groups, data)) before any is contacted; collect all problems first."""
    problems: list[str] = []
    profiles: dict[str, Profile] = {}
    if not hosts:
        raise ProfileError(["the inventory has no hosts"])
    roles = {"control_plane", "workers"}
    if not any("control_plane" in groups for groups, _ in hosts.values()):
        problems.append("the inventory has no host in the group control_plane")
    for name, (groups, data) in hosts.items():
        where = f"host {name}"
        if not roles & set(groups):
            problems.append(f"{where}: is in neither control_plane nor workers (groups: {', '.join(groups) or '-'})")
        if {"control_plane", "workers"} <= set(groups):
            problems.append(f"{where}: is in both control_plane and workers; a host has one role")
        strict = data.get("ssh_strict_host_key_checking", "yes")
        if strict not in ("yes", True):
            problems.append(
                f"{where}: ssh_strict_host_key_checking is {strict!r}; kubeharden connects only with strict "
                "host-key checking ('yes'): put the host key in the known_hosts file first"
            )
        try:
            profiles[name] = validate_profile(data, where)
        except ProfileError as exc:
            problems += exc.problems
    if problems:
        raise ProfileError(problems)
    return profiles
