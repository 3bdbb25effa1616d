"""The control-plane hardening deploy: plan per node from facts and the profile, then apply safely.

Everything is planned (pyinfra's prepare phase) before anything is executed, so a planned manifest with a
problem (a flag the version does not accept, a file outside the pod's volumes, a referenced file missing on the
node) stops the whole run before any node is changed. Execution is one control-plane node at a time for every
manifest change, and the first failure stops the rollout.
"""

from __future__ import annotations

from typing import Any

from pyinfra.api.deploy import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.context import host
from pyinfra.operations import files

from kubeharden import encryption, facts, operations
from kubeharden.catalog import CONTROLS
from kubeharden.hardening import ComponentPlan, plan_cluster_configuration, plan_component
from kubeharden.profile import AREA_SWITCHES, DEFAULTS, ProfileError, validate_profile

COMPONENT_AREAS = {
    "etcd": "etcd",
    "kube-apiserver": "apiserver",
    "kube-controller-manager": "controller-manager",
    "kube-scheduler": "scheduler",
}
ORDER = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
RUN_DEFAULTS: dict[str, Any] = {**DEFAULTS, "kubeharden_only": None}


def _profile() -> dict[str, Any]:
    data = {key: host.data.get(key) for key in RUN_DEFAULTS}
    only = data.pop("kubeharden_only")
    try:
        profile = dict(validate_profile(data, f"host {host.name}").values)
    except ProfileError as exc:
        raise DeployError(str(exc)) from exc
    if only:
        wanted = {a.strip() for a in (only.split(",") if isinstance(only, str) else only)}
        unknown = wanted - set(AREA_SWITCHES)
        if unknown:
            raise DeployError(
                f"--only names unknown areas {', '.join(sorted(unknown))}; known: {', '.join(AREA_SWITCHES)}"
            )
        for area, switch in AREA_SWITCHES.items():
            if area not in wanted:
                profile[switch] = False
                profile["kubeharden_waivers"] = {**profile["kubeharden_waivers"], area: "not selected by --only"}
    return profile


def _file_mode_controls(profile: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(control id, path, mode) of the CIS 1.1 file controls that name a fixed path."""
    found = []
    for control in CONTROLS:
        if control.area != "files" or profile["kubeharden_waivers"].get(control.id):
            continue
        for test in control.tests:
            path = test.get("file") or test.get("glob")
            if path and not path.startswith("flag:"):
                found.append((control.id, path, int(test["mode"], 8)))
    return found


ENCRYPTION_OVERRIDE: dict[str, str] = {}
"""Set by `kubeharden rotate-key` for one step: {"config": text} replaces the decided EncryptionConfiguration."""
_ENCRYPTION_DECIDED: dict[int, tuple[str, bool]] = {}


def _encryption_config(profile: dict[str, Any]) -> tuple[str | None, bool]:
    """The EncryptionConfiguration for every control plane, decided once per run from all of them, and whether
    the configured resources must be rewritten afterwards (encryption newly enabled, or resources added)."""
    if not profile["kubeharden_encryption_enabled"] or any(
        profile["kubeharden_waivers"].get(k) for k in ("1.2.27", "1.2.28", "encryption")
    ):
        return None, False
    if ENCRYPTION_OVERRIDE:
        return ENCRYPTION_OVERRIDE["config"], False
    run = id(host.state)
    if run not in _ENCRYPTION_DECIDED:
        path = str(profile["kubeharden_encryption_config_file"])
        control_planes = list(host.inventory.get_group("control_plane"))
        found = {cp.name: cp.get_fact(facts.EncryptionConfigFile, path=path) for cp in control_planes}
        settings = encryption.settings_from_profile(profile)
        try:
            shared = encryption.shared_config(found)
            text, _generated = encryption.desired_config(settings, shared, f"{path} on the control planes")
        except encryption.EncryptionError as exc:
            raise DeployError(f"{exc} (nothing was changed on any node)") from None
        rewrite = shared is None
        if shared is not None:
            before = encryption.summarize(encryption.parse_config(shared.text)).first_provider()
            after = encryption.summarize(encryption.parse_config(text)).first_provider()
            old_rules = encryption.parse_config(shared.text)
            covered = all(old_rules.providers_for(r) for r in settings.resources)
            rewrite = before is None or after is None or before[0] != after[0] or not covered
        for cp in control_planes:
            manifest = cp.get_fact(facts.ControlPlaneState, paths=())["manifests"].get("kube-apiserver") or ""
            if f"--encryption-provider-config={path}" not in manifest:
                rewrite = True
        _ENCRYPTION_DECIDED[run] = (text, rewrite)
    return _ENCRYPTION_DECIDED[run]


def _plan(
    profile: dict[str, Any], manifests: dict[str, str | None], encryption_config: str | None = None
) -> list[ComponentPlan]:
    plans = []
    for component in ORDER:
        text = manifests.get(component)
        if text is None or not profile[AREA_SWITCHES[COMPONENT_AREAS[component]]]:
            continue
        plan = plan_component(
            text,
            profile,
            manifest_path=f"/etc/kubernetes/manifests/{component}.yaml",
            encryption_config=encryption_config,
        )
        if plan.problems:
            raise DeployError(
                f"{host.name}: the planned {component} manifest has problems, nothing was changed on any node:\n  - "
                + "\n  - ".join(plan.problems)
            )
        plans.append(plan)
    return plans


@deploy("kubeharden: harden the control plane", data_defaults=RUN_DEFAULTS)
def harden_control_plane() -> None:
    """Harden one control-plane node: supporting files, manifests (health-gated), file modes, kubeadm-config."""
    profile = _profile()
    first_state = host.get_fact(facts.ControlPlaneState, paths=())
    encryption_config, rewrite = _encryption_config(profile)
    plans = _plan(profile, first_state["manifests"], encryption_config)
    mode_controls = _file_mode_controls(profile) if profile["kubeharden_files_enabled"] else []
    paths = {f.path for p in plans for f in p.files} | {d for p in plans for d, _ in p.directories}
    paths |= {path for p in plans for path in p.required_paths} | {path for _, path, _ in mode_controls}
    state = host.get_fact(facts.ControlPlaneState, paths=sorted(paths))
    missing = sorted(path for p in plans for path in p.required_paths if state["files"].get(path) is None)
    if missing:
        raise DeployError(
            f"{host.name}: files the hardened manifests refer to are missing on the node, nothing was changed: "
            + ", ".join(missing)
        )
    operations.rollout_guard(name="kubeharden rollout guard: stop if an earlier control plane failed")
    timeout = int(profile["kubeharden_health_timeout"])
    for plan in plans:
        ids = sorted({c.control_id for c in plan.changes})
        for directory, mode in plan.directories:
            files.directory(
                name=f"{plan.component}: directory {directory} mode {format(mode, 'o')}",
                path=directory,
                mode=format(mode, "o"),
                user="root",
                group="root",
                present=True,
            )
        for support in plan.files:
            operations.file_content(
                name=f"{plan.component}: {support.path} ({', '.join(ids) or 'support file'})",
                path=support.path,
                content=support.content,
                current=state["files"].get(support.path),
                mode=support.mode,
                owner=support.owner,
            )
        operations.static_pod_manifest(
            name=f"{plan.component}: manifest [{', '.join(ids) or 'no change'}]",
            component=plan.component,
            content=plan.after,
            current=plan.before,
            backup_dir=profile["kubeharden_backup_dir"],
            timeout=timeout,
            _serial=True,
        )
    for control_id, pattern, mode in mode_controls:
        for path in state["globs"].get(pattern, [pattern]):
            operations.file_mode(
                name=f"{control_id}: {path} mode {format(mode, 'o')} or stricter, root:root",
                path=path,
                current=state["files"].get(path),
                mode=mode,
            )
    if rewrite and any(p.component == "kube-apiserver" for p in plans) and host.name == _last_control_plane():
        resources = list(profile["kubeharden_encryption_resources"])
        operations.rewrite_resources(
            name=f"1.2.27: rewrite existing {', '.join(resources)} so they are stored encrypted",
            resources=resources,
        )
    if plans and host.name == _first_control_plane():
        current = host.get_fact(facts.KubeadmClusterConfiguration)
        if current is not None:
            planned, _changes = plan_cluster_configuration(current, plans)
            operations.kubeadm_cluster_configuration(
                name="kubeadm-config: ClusterConfiguration extraArgs/extraVolumes (kept by kubeadm upgrade)",
                current=current,
                planned=planned,
            )


def _first_control_plane() -> str:
    group = host.inventory.get_group("control_plane")
    return str(group[0].name) if group else ""


def _last_control_plane() -> str:
    group = host.inventory.get_group("control_plane")
    return str(group[-1].name) if group else ""


def _apiserver_port(profile: dict[str, Any]) -> int | None:
    """The port kube-apiserver serves after this run: the profile's when it sets one, else the manifest's."""
    if "control_plane" not in host.groups:
        return None
    if profile["kubeharden_apiserver_secure_port"] and profile["kubeharden_apiserver_enabled"]:
        return int(profile["kubeharden_apiserver_secure_port"])
    from kubeharden.manifests import load_manifest

    text = host.get_fact(facts.ControlPlaneState, paths=())["manifests"].get("kube-apiserver")
    port = load_manifest(text).get_flag("--secure-port") if text else None
    return int(port) if port and port.isdigit() else 6443


@deploy("kubeharden: firewall", data_defaults=RUN_DEFAULTS)
def harden_firewall() -> None:
    """nftables ACLs for this host's role (kubeharden.firewall), loaded with commit-confirm (kubeharden.nftables)."""
    from kubeharden import firewall, nftables

    profile = _profile()
    if not profile["kubeharden_firewall_enabled"] or profile["kubeharden_waivers"].get("firewall"):
        host.log(f"firewall: skipped ({profile['kubeharden_waivers'].get('firewall') or 'switched off'})")
        return
    nodes = [
        firewall.Node(h.name, str(h.data.get("node_ip") or h.data.get("ssh_hostname") or h.name), _role(h.groups))
        for h in host.inventory
    ]
    me = next(n for n in nodes if n.name == host.name)
    content = firewall.render(firewall.build_ruleset(me, nodes, profile, _apiserver_port(profile)))
    nftables.ruleset(
        name="KH-FW-TABLE, KH-FW-PERSIST: nftables table inet kubeharden (commit-confirm)",
        content=content,
        current=host.get_fact(nftables.FirewallState),
        confirm_timeout=int(profile["kubeharden_firewall_confirm_timeout"]),
    )


def _role(groups: Any) -> str:
    return "control_plane" if "control_plane" in groups else "workers"


def harden() -> None:
    """Entry for deploys/harden.py: every host gets the firewall, control-plane nodes the control-plane hardening.

    The firewall comes first: its operation is then the same one on every host (pyinfra's API orders operations by
    their count per host), and a firewall that cannot be confirmed stops the run before anything else changes.
    """
    harden_firewall()
    if "control_plane" in host.groups:
        harden_control_plane()
