"""kubeadm's ClusterConfiguration (the kubeadm-config ConfigMap) kept in step with the hardened manifests, so that a
later ``kubeadm upgrade`` regenerates them with the same settings (docs/pitfalls.md: upgrades drop hand edits).

The planned settings go into extraArgs, the planner's hostPath volumes into extraVolumes; an extraArg the plan did
not decide that still fails a control's test (``profiling: "true"`` left in the ConfigMap) gets the same generic
fix the manifest got. Pure logic.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from kubeharden.core import flag_ops
from kubeharden.core.catalog import APISERVER, CONTROLLER_MANAGER, ETCD, SCHEDULER, for_component
from kubeharden.core.catalog.model import resolve
from kubeharden.core.planning.editor import shown as _shown
from kubeharden.core.planning.plan import Change, ComponentPlan, PlannedVolume, Setting

_SECTIONS: Mapping[str, tuple[str, ...]] = {
    APISERVER: ("apiServer",),
    CONTROLLER_MANAGER: ("controllerManager",),
    SCHEDULER: ("scheduler",),
    ETCD: ("etcd", "local"),
}
_MAP_STYLE = frozenset({"kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3"})
_LIST_STYLE = frozenset({"kubeadm.k8s.io/v1beta4"})
# Per-node apiserver settings: kubeadm takes them from each node's localAPIEndpoint and points its probes there,
# so a cluster-wide extraArg would be wrong on the other nodes or break the probes.
_PER_NODE = frozenset({(APISERVER, "--secure-port"), (APISERVER, "--bind-address")})
# Flags a later Kubernetes no longer accepts: never written into extraArgs (an upgrade would carry them into a
# version that exits on them), only removed from there.
_NEVER_CARRIED = frozenset({"--insecure-port", "--port"})


def _section(config: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = config
    for key in path:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    return node


def _get_arg(section: dict[str, Any], name: str, list_style: bool) -> str | None:
    args = section.get("extraArgs")
    if list_style:
        values = [str(a.get("value", "")) for a in args or [] if isinstance(a, dict) and a.get("name") == name]
        return values[-1] if values else None
    if isinstance(args, dict) and name in args:
        return str(args[name])
    return None


def _set_arg(section: dict[str, Any], name: str, value: str | None, list_style: bool) -> bool:
    args = section.get("extraArgs")
    if list_style:
        entries = list(args) if isinstance(args, list) else []
        matching = [i for i, a in enumerate(entries) if isinstance(a, dict) and a.get("name") == name]
        if value is None:
            if not matching:
                return False
            entries = [a for i, a in enumerate(entries) if i not in matching]
        else:
            if len(matching) == 1 and str(entries[matching[0]].get("value")) == value:
                return False
            if matching:
                entries[matching[0]] = {"name": name, "value": value}
                entries = [a for i, a in enumerate(entries) if i not in matching[1:]]
            else:
                entries.append({"name": name, "value": value})
        if entries:
            section["extraArgs"] = entries
        else:
            section.pop("extraArgs", None)
        return True
    mapping = dict(args) if isinstance(args, dict) else {}
    if value is None:
        if name not in mapping:
            return False
        del mapping[name]
    else:
        if name in mapping and str(mapping[name]) == value and isinstance(mapping[name], str):
            return False
        mapping[name] = value
    if mapping:
        section["extraArgs"] = mapping
    else:
        section.pop("extraArgs", None)
    return True


def _set_volume(section: dict[str, Any], volume: PlannedVolume) -> bool:
    wanted = {
        "name": volume.name,
        "hostPath": volume.host_path,
        "mountPath": volume.mount_path,
        "readOnly": volume.read_only,
        "pathType": volume.path_type,
    }
    if not volume.path_type:
        del wanted["pathType"]
    entries = [e for e in section.get("extraVolumes") or [] if isinstance(e, dict)]
    for index, entry in enumerate(entries):
        same_name = entry.get("name") == volume.name
        same_mount = posixpath.normpath(str(entry.get("mountPath", ""))) == posixpath.normpath(volume.mount_path)
        if not (same_name or same_mount):
            continue
        comparable = {k: entry.get(k) for k in wanted}
        comparable["readOnly"] = bool(entry.get("readOnly", False))
        if comparable == wanted:
            return False
        entries[index] = wanted
        section["extraVolumes"] = entries
        return True
    entries.append(wanted)
    section["extraVolumes"] = entries
    return True


def plan_cluster_configuration(
    cluster_configuration_yaml: str, plans: Sequence[ComponentPlan], profile: Mapping[str, Any] | None = None
) -> tuple[str, list[Change]]:
    """Carry the planned settings into kubeadm's ClusterConfiguration (the kubeadm-config ConfigMap's
    ``ClusterConfiguration`` key), so that ``kubeadm upgrade`` regenerates the manifests with them.

    Handles v1beta2/v1beta3 (extraArgs as a map) and v1beta4 (extraArgs as a list of {name, value}). Flags go to
    apiServer / controllerManager / scheduler ``extraArgs`` and etcd.local.extraArgs (flags the plan removed
    are removed there too), the planner's hostPath volumes to ``extraVolumes``. Left out: kube-apiserver's
    ``--bind-address`` and ``--secure-port`` (per node: kubeadm takes them from each node's localAPIEndpoint and
    points the probes there) and ``--insecure-port=0`` (1.24+ refuses the flag, so carrying it into an upgrade
    would stop the apiserver).
    Returns the input unchanged when nothing changes, so applying it to its own output changes nothing.
    """
    try:
        config = yaml.safe_load(cluster_configuration_yaml)
    except yaml.YAMLError as error:
        raise ValueError(f"the ClusterConfiguration is not valid YAML: {error}") from error
    if not isinstance(config, dict) or config.get("kind") != "ClusterConfiguration":
        found = config.get("kind") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"not a kubeadm ClusterConfiguration: kind is {found!r}, expected ClusterConfiguration")
    api_version = str(config.get("apiVersion"))
    if api_version not in _MAP_STYLE | _LIST_STYLE:
        raise ValueError(
            f"ClusterConfiguration apiVersion {api_version!r} is not one kubeharden knows "
            "(kubeadm.k8s.io/v1beta2, v1beta3 or v1beta4): migrate it with `kubeadm config migrate`"
        )
    list_style = api_version in _LIST_STYLE
    from kubeharden.core.profile import DEFAULTS

    values = DEFAULTS if profile is None else profile
    changes: list[Change] = []
    for plan in plans:
        if plan.component not in _SECTIONS or plan.problems:
            continue
        path = _SECTIONS[plan.component]
        if plan.component == ETCD and isinstance(config.get("etcd"), dict) and "external" in config["etcd"]:
            continue  # external etcd: kubeadm does not run it
        section = _section(config, path)
        where = ".".join(path)
        settings = list(plan.settings) + _stale_args(plan, section, list_style, values)
        for setting in settings:
            if (plan.component, setting.flag) in _PER_NODE:
                continue
            if setting.flag in _NEVER_CARRIED and setting.value is not None:
                continue
            name = setting.flag.lstrip("-")
            old = _get_arg(section, name, list_style)
            if _set_arg(section, name, setting.value, list_style):
                new = "removed" if setting.value is None else setting.value
                changes.append(Change(setting.control_id, f"{where}.extraArgs {name}: {_shown(old)} -> {new}"))
        if plan.component != ETCD:
            for volume in plan.volumes:
                if _set_volume(section, volume):
                    changes.append(
                        Change(
                            volume.control_id,
                            f"{where}.extraVolumes {volume.name}: {volume.host_path} at {volume.mount_path}",
                        )
                    )
    if not changes:
        return cluster_configuration_yaml, []
    text = yaml.safe_dump(config, default_flow_style=False, sort_keys=True, allow_unicode=True, width=1 << 30)
    return text, changes


def _stale_args(
    plan: ComponentPlan, section: dict[str, Any], list_style: bool, profile: Mapping[str, Any]
) -> list[Setting]:
    """extraArgs the plan did not decide that fail a (non-waived) control's test: fixed the generic way."""
    decided = {s.flag for s in plan.settings}
    waived = dict(plan.waived)
    found: list[Setting] = []
    for control in for_component(plan.component):
        if control.id in waived or control.applied_by not in ("tests", "planner"):
            continue
        for test in control.flag_tests:
            if test.flag in decided or not test.fix or test.volume:
                continue
            raw = _get_arg(section, test.flag.lstrip("-"), list_style)
            if raw is None:
                continue
            wanted = resolve(test.value, profile)
            if flag_ops.evaluate(test.op, raw, test.unset, wanted, plan.component).ok:
                continue
            fixed = flag_ops.repair(
                test.op, raw, wanted, component=plan.component, insert=test.insert, write=test.write
            )
            if fixed is flag_ops.REMOVE:
                found.append(Setting(control.id, test.flag, None))
            elif isinstance(fixed, str):
                found.append(Setting(control.id, test.flag, fixed))
            decided.add(test.flag)
    return found
