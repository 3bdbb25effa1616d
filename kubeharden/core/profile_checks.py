"""Validation of profiles and inventories, before any host is contacted: every problem as a sentence naming the host
and the key. Types and bounds come from the profile's SCHEMA; the benchmark's floors and what extra flags may do
come from the catalog (a flag that fails a control's test is refused unless that control is waived). Pure logic.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from kubeharden.core import flag_ops, flag_tables, values
from kubeharden.core.catalog import AREAS, by_id, for_component, profile_params
from kubeharden.core.catalog.model import Op, cis_value, resolve
from kubeharden.core.connection_checks import connection_problems
from kubeharden.core.firewall import check_settings as check_firewall
from kubeharden.core.profile import (
    AREA_SWITCHES,
    DEFAULTS,
    ENCRYPTION_RESOURCES,
    EXTRA_ARGS,
    KNOBS,
    MIN_REASON,
    Knob,
    Profile,
    ProfileError,
    validate_profile,
)

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PLUGIN = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")
MANIFESTS_DIR = "/etc/kubernetes/manifests"


def _is_abs(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("/") and "\n" not in value and ".." not in value.split("/")


def _type_problem(knob: Knob, value: Any) -> str | None:
    if value is None and knob.optional:
        return None
    kind = knob.kind
    if kind == "bool" and not isinstance(value, bool):
        return "must be true or false"
    if kind in ("int", "port") and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        return "must be a non-negative whole number"
    if kind == "list" and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
        return "must be a list of strings"
    if kind == "map" and not isinstance(value, dict):
        return "must be a mapping"
    if kind in ("str", "path", "choice", "ip") and not isinstance(value, str):
        return "must be a string"
    return None


def check_types(data: Mapping[str, Any], where: str) -> list[str]:
    """Unknown kubeharden_ keys (with a did-you-mean) and values of the wrong type."""
    problems = []
    for key, value in data.items():
        if not key.startswith("kubeharden_"):
            continue
        knob = KNOBS.get(key)
        if knob is None:
            close = [k for k in KNOBS if k.split("_")[1:2] == key.split("_")[1:2]]
            hint = f" (did you mean {', '.join(close[:3])}?)" if close else ""
            problems.append(f"{where}: unknown setting {key}{hint}")
            continue
        problem = _type_problem(knob, value)
        if problem:
            problems.append(f"{where}: {key} {problem}, got {value!r}")
    return problems


def _bounds(p: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for knob in KNOBS.values():
        value = p[knob.key]
        if value is None and knob.optional:
            continue
        if knob.kind == "choice" and value not in knob.choices:
            problems.append(f"{where}: {knob.key} must be one of {', '.join(map(repr, knob.choices))}, got {value!r}")
        if knob.kind == "path" and not _is_abs(value):
            problems.append(f"{where}: {knob.key} must be an absolute path without '..', got {value!r}")
        if knob.kind == "port" and not 1 <= value <= 65535:
            problems.append(f"{where}: {knob.key} must be 1-65535 (never 0), got {value!r}")
        if knob.kind == "ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                problems.append(f"{where}: {knob.key} must be an IP address, got {value!r}")
        low, high = knob.minimum, knob.maximum
        if isinstance(value, int) and ((low is not None and value < low) or (high is not None and value > high)):
            if low is not None and high is not None:
                problems.append(f"{where}: {knob.key} must be {low}-{high}, got {value}")
            elif low is not None:
                problems.append(f"{where}: {knob.key} must be at least {low}, got {value}")
            else:
                problems.append(f"{where}: {knob.key} must be at most {high}, got {value}")
    return problems


def _floors(p: Mapping[str, Any], where: str) -> list[str]:
    """The profile may ask for more than the benchmark, never less: the floors are the catalog's Param(cis=)."""
    problems = []
    waivers = p["kubeharden_waivers"]
    for key, uses in profile_params().items():
        for control_id, test in uses:
            cis = cis_value(test.value)
            wanted = resolve(test.value, p)
            if cis is None or wanted is None or control_id in waivers:
                continue
            if not flag_ops.evaluate(
                test.op, values.join(list(wanted)) if isinstance(wanted, tuple) else wanted, None, cis
            ).ok:
                shown = flag_ops.describe(test.op, cis)
                problems.append(
                    f"{where}: {key} is {p[key]!r}, below {control_id}'s benchmark value ({shown}); "
                    f"waive {control_id} with a reason instead"
                )
    if not p["kubeharden_tls_cipher_suites"]:
        problems.append(f"{where}: kubeharden_tls_cipher_suites must not be empty")
    return problems


def check_extra_args(p: Mapping[str, Any], where: str) -> list[str]:
    """Extra flags are held to every control's test of that flag: one that fails a non-waived control is refused
    (before any host is contacted), whatever the flag is."""
    problems = []
    profile = Profile(p)
    for key, component in EXTRA_ARGS.items():
        args = p[key]
        bad = [k for k, v in args.items() if not (isinstance(k, str) and k.startswith("--") and isinstance(v, str))]
        if bad:
            problems.append(
                f"{where}: {key} must map '--flag' names to string values; check {', '.join(map(str, bad))}"
            )
            continue
        for flag, value in args.items():
            if flag_tables.in_any_table(component, flag) is False:
                versions = ", ".join(flag_tables.table_versions(component))
                problems.append(
                    f"{where}: {key}: {component} has no flag {flag} in any version kubeharden has a flag table for "
                    f"({versions}, read from the binaries' --help): it would exit at start with 'unknown flag'"
                )
                continue
            for control in for_component(component):
                if profile.waived(control.id, control.area):
                    continue
                for test in control.flag_tests:
                    if test.flag != flag:
                        continue
                    wanted = resolve(test.value, p)
                    if wanted is None and test.value is not None:
                        continue
                    verdict = flag_ops.evaluate(test.op, value, test.unset, wanted, component)
                    if not verdict.ok:
                        expected = flag_ops.describe(test.op, wanted, test.unset)
                        problems.append(
                            f"{where}: {key}: {flag}={value} fails control {control.id} ({control.title}; expected "
                            f"{expected}): remove it, or waive {control.id} with a reason"
                        )
                for owned in control.owns:
                    if owned == flag:
                        problems.append(
                            f"{where}: {key}: {flag} is written by kubeharden for control {control.id} "
                            f"({control.title}): remove it, or waive {control.id} with a reason"
                        )
    return problems


def _check_plugins(p: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for plugin in p["kubeharden_admission_plugins"]:
        if not _PLUGIN.match(plugin):
            problems.append(f"{where}: kubeharden_admission_plugins has {plugin!r}, which is not a plugin name")
    listed = values.join(p["kubeharden_admission_plugins"])
    for control in for_component("kube-apiserver"):
        for test in control.flag_tests:
            if (
                test.flag == "--enable-admission-plugins"
                and test.op is Op.NOTHAVE
                and values.has_item(listed, test.value if isinstance(test.value, str) else "")
            ):
                problems.append(
                    f"{where}: kubeharden_admission_plugins lists {test.value}, which control {control.id} forbids"
                )
    bad = [n for n in p["kubeharden_pod_security_exempt_namespaces"] if not _DNS_LABEL.match(n) or len(n) > 63]
    if bad:
        problems.append(
            f"{where}: kubeharden_pod_security_exempt_namespaces has {', '.join(map(repr, bad))}, which is not a "
            "namespace name (a DNS label)"
        )
    return problems


def _check_encryption(p: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    provider, resources = p["kubeharden_encryption_provider"], p["kubeharden_encryption_resources"]
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
    for key in (
        "kubeharden_encryption_config_file",
        "kubeharden_backup_dir",
        "kubeharden_audit_policy_file",
        "kubeharden_admission_config_file",
        "kubeharden_authentication_config_file",
    ):
        path = p[key]
        if _is_abs(path) and (path.rstrip("/") + "/").startswith(MANIFESTS_DIR + "/"):
            problems.append(
                f"{where}: {key} must be outside {MANIFESTS_DIR} (the kubelet runs every file there, a file "
                "there would start a second component or break one)"
            )
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


def check_values(p: Mapping[str, Any], where: str) -> list[str]:
    """Every value problem of one host's effective profile (its types already checked)."""
    problems = _bounds(p, where)
    if problems:
        bad = {key for key in KNOBS if any(f" {key} " in problem for problem in problems)}
        return list(dict.fromkeys([*problems, *(f for f in _floors(p, where) if not any(k in f for k in bad))]))
    return list(
        dict.fromkeys(
            [
                *_floors(p, where),
                *_check_plugins(p, where),
                *_check_encryption(p, where),
                *check_extra_args(p, where),
                *check_firewall(p, where),
                *_check_waivers(p, where),
            ]
        )
    )


def validate_inventory(
    hosts: Mapping[str, tuple[list[str], Mapping[str, Any]]], strict_forced: bool = True
) -> dict[str, Profile]:
    """Validate every host (name -> (groups, data)) before any is contacted; collect all problems first.

    ``strict_forced``: whether the caller forces strict host-key checking on its connections (kubeharden's own
    commands do); where it cannot, an inventory must ask for it itself."""
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
        problems += connection_problems(data, where, strict_forced)
        try:
            profiles[name] = validate_profile(data, where)
        except ProfileError as exc:
            problems += exc.problems
    if problems:
        raise ProfileError(problems)
    return profiles


__all__ = ["DEFAULTS", "check_extra_args", "check_types", "check_values", "validate_inventory"]
