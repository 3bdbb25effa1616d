"""kubeharden's pyinfra deploys: every host hardened from the run's plan, computed once before anything executes.

``prepare_run`` validates the inventory once, collects every host once (kubeharden.host.facts.collect, in
parallel), and computes the pure RunPlan (kubeharden.core.runplan); a plan with problems stops the run before any
host is changed. The deploys then add each host's operations from its part of the plan: the firewall first (the same
operation on every host, and a lockout stops the run before anything else changes), then on control planes the
rollout guard, kubeharden's directories and files, the manifests one component at a time through the health gate,
file modes, the encryption rewrite (last control plane) and kubeadm's ClusterConfiguration (first control plane).

Use them from your own deploy file (pyinfra "packaged deploys")::

    from kubeharden.faces.deploy import harden
    harden()
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from pyinfra.api.deploy import deploy
from pyinfra.api.exceptions import DeployError
from pyinfra.context import host, state
from pyinfra.operations import files

from kubeharden.core.collection import harden_spec
from kubeharden.core.runplan import HostPlan, RunPlan, Target, plan_run
from kubeharden.core.state import CollectionError, HostState, host_state
from kubeharden.host import facts, kubelet_operations, nftables, operations, pyinfra_adapter
from kubeharden.host.rollout import Rollout

GUARD_PREFIX = "kubeharden rollout guard"


@dataclass
class Run:
    """One harden run: its targets (inventory order), what each host reported, the plan, and the rollout."""

    targets: list[Target]
    states: dict[str, HostState] = field(repr=False)
    plan: RunPlan
    rollout: Rollout = field(default_factory=Rollout)
    op_names: dict[tuple[str, str], str] = field(default_factory=dict, repr=False)
    """(host, operation hash) -> that host's name of the operation (see ``_op``)."""


def collect_all(pyinfra_state: Any, targets: list[Target]) -> dict[str, HostState]:
    """Every host's state from one collection each, in parallel; raises CollectionError naming every failure."""
    import gevent
    import gevent.pool

    first_cp = next((t.name for t in targets if t.role == "control_plane"), None)
    hosts = {h.name: h for h in pyinfra_state.inventory}

    def one(target: Target) -> HostState:
        spec = harden_spec(target.profile.values, target.role == "control_plane", target.name == first_cp)
        document = facts.collect(pyinfra_state, hosts[target.name], spec)
        return host_state(target.name, target.role, target.address, document)

    # A pool of its own: pyinfra's CLI prepares every host in a greenlet of state.pool, so spawning into that
    # pool from a host's preparation waits for a free slot that never comes (a deadlock with as many hosts as slots).
    pool = gevent.pool.Pool(max(1, min(len(targets), 32)))
    greenlets = {target.name: pool.spawn(one, target) for target in targets}
    gevent.joinall(list(greenlets.values()))
    errors = [str(g.exception) for g in greenlets.values() if g.exception is not None]
    if errors:
        raise CollectionError("; ".join(errors))
    return {name: g.value for name, g in greenlets.items()}


def prepare_run(
    pyinfra_state: Any,
    targets: list[Target],
    selection: Iterable[str] | None = None,
    encryption_override: str | None = None,
) -> Run:
    """Collect once and plan the whole run; raises DeployError (nothing changed anywhere) on any problem."""
    try:
        states = collect_all(pyinfra_state, targets)
    except CollectionError as exc:
        raise DeployError(f"{exc}\nnothing was changed on any host") from None
    plan = plan_run(targets, states, selection, encryption_override)
    if plan.problems:
        raise DeployError("\n".join(plan.problems))
    return Run(targets, states, plan)


def _inventory_hosts(pyinfra_state: Any) -> dict[str, tuple[list[str], dict[str, Any]]]:
    return {h.name: (list(h.groups), dict(h.data.dict())) for h in pyinfra_state.inventory}


def guard_pyinfra_cli() -> None:
    """For deploys/config.py: pyinfra's CLI validates the whole inventory and forces strict host-key checking
    BEFORE it connects to any host; a problem exits 2 with every message and no connection made."""
    from kubeharden.core.profile import ProfileError
    from kubeharden.core.profile_checks import validate_inventory
    from kubeharden.faces.inventory_file import InventoryError, load_inventory

    def refuse(exc: Exception) -> None:
        sys.stderr.write(f"error: {exc}\nno host was contacted.\n")
        sys.exit(2)

    def check_file(path: str) -> None:
        try:
            hosts = load_inventory(path)
            validate_inventory({name: (h.groups, h.data) for name, h in hosts.items()}, strict_forced=True)
        except (InventoryError, ProfileError) as exc:
            refuse(exc)

    def check(pyinfra_state: Any) -> None:
        try:
            validate_inventory(_inventory_hosts(pyinfra_state), strict_forced=True)
        except ProfileError as exc:
            refuse(exc)
        pyinfra_adapter.force_strict_host_keys(pyinfra_state)

    pyinfra_adapter.before_cli_connect(check_file, check)


def targets_from_state(pyinfra_state: Any) -> list[Target]:
    """The pyinfra CLI path: validate the whole inventory pyinfra loaded (every host's merged data, misspelt
    kubeharden_ keys included), once; raises DeployError with every problem. Without the pre-connect guard
    (deploys/config.py) pyinfra has already connected, with the host-key policy the inventory asked for: an
    inventory that does not ask for strict checking is refused here."""
    from kubeharden.core.profile import ProfileError
    from kubeharden.core.profile_checks import validate_inventory

    hosts = _inventory_hosts(pyinfra_state)
    try:
        profiles = validate_inventory(hosts, strict_forced=pyinfra_adapter.cli_guarded(pyinfra_state))
    except ProfileError as exc:
        raise DeployError(f"{exc}\nno host was changed") from None
    return [
        Target(name, "control_plane" if "control_plane" in groups else "workers", tuple(groups), data, profiles[name])
        for name, (groups, data) in hosts.items()
    ]


def _op(chosen: Run, function: Callable[..., Any], name: str, **kwargs: Any) -> None:
    """Add one operation on this host and remember its name for this host: pyinfra's API numbers operations per
    host, so the Nth operation of a control plane and the Nth of a worker share one entry whose names pyinfra
    merges; the summary names each host's own."""
    meta = function(name=name, **kwargs)
    pyinfra_adapter.remember_name(chosen.op_names, host, meta, name)


def current_run(run: Run | None = None) -> Run:
    """The run given, or the one of this pyinfra State (made on first use: the pyinfra CLI prepares each host in
    turn, the plan is computed once for all of them)."""
    if run is not None:
        return run
    return pyinfra_adapter.per_run(state, lambda: prepare_run(state, targets_from_state(state)))


@deploy("kubeharden: firewall")
def harden_firewall(run: Run | None = None) -> None:
    """nftables ACLs for this host's role (kubeharden.core.firewall), loaded with commit-confirm."""
    chosen = current_run(run)
    plan = chosen.plan.hosts[host.name]
    if plan.firewall is None:
        host.noop("firewall: not in this run (waived, switched off or not selected)")
        return
    _op(
        chosen,
        nftables.ruleset,
        name="KH-FW-TABLE, KH-FW-PERSIST: nftables table inet kubeharden (commit-confirm)",
        content=plan.firewall,
        current=chosen.states[host.name].firewall,
        rollout=chosen.rollout,
        confirm_timeout=plan.confirm_timeout,
    )


def _supporting_files(chosen: Run, plan: HostPlan, hstate: HostState) -> None:
    for component in plan.components:
        ids = ", ".join(component.control_ids) or "support file"
        for directory, mode in component.directories:
            _op(
                chosen,
                files.directory,
                name=f"{component.component}: directory {directory} mode {mode:o}",
                path=directory,
                mode=format(mode, "o"),
                user="root",
                group="root",
                present=True,
            )
        for support in component.files:
            _op(
                chosen,
                operations.file_content,
                name=f"{component.component}: {support.path} ({support.control_id or ids})",
                path=support.path,
                content=support.content,
                current=plan.current_file(hstate, support.path),
                mode=support.mode,
                owner=support.owner,
            )


def _file_modes(chosen: Run, plan: HostPlan) -> None:
    for mode in plan.file_modes:
        _op(
            chosen,
            operations.file_mode,
            name=f"{mode.control_id}: {mode.path} mode {mode.mode:o} or stricter, {mode.owner}",
            path=mode.path,
            current=mode.current,
            mode=mode.mode,
            owner=mode.owner,
        )


def _kubelet(chosen: Run, plan: HostPlan) -> None:
    """The kubelet's config file (CIS 4.2), the kubelet restarted through its health gate when it changed."""
    kubelet = plan.kubelet
    if kubelet is None or not kubelet.changed:
        return
    hstate = chosen.states[host.name]
    target = next(t for t in chosen.targets if t.name == host.name)
    flags = hstate.kubelet.flags if hstate.kubelet is not None else {}
    _op(
        chosen,
        kubelet_operations.kubelet_config,
        f"kubelet: {kubelet.path} [{', '.join(kubelet.control_ids)}]"
        + (f", kernel settings in {kubelet.sysctl[0]} first" if kubelet.sysctl else "")
        + (", restart through the health gate" if kubelet.running else ""),
        path=kubelet.path,
        content=kubelet.after,
        current=kubelet.before,
        node=flags.get("--hostname-override") or hstate.hostname or host.name,
        backup_dir=str(target.profile["kubeharden_backup_dir"]),
        rollout=chosen.rollout,
        timeout=int(target.profile["kubeharden_health_timeout"]),
        sysctl=kubelet.sysctl,
    )


@deploy("kubeharden: node")
def harden_node_files(run: Run | None = None) -> None:
    """A worker: its file controls (the kubelet's files, CIS 4.1) and the kubelet's config (CIS 4.2)."""
    chosen = current_run(run)
    _op(chosen, operations.rollout_guard, f"{GUARD_PREFIX}: stop if an earlier host failed", rollout=chosen.rollout)
    plan = chosen.plan.hosts[host.name]
    _file_modes(chosen, plan)
    _kubelet(chosen, plan)


@deploy("kubeharden: control plane")
def harden_control_plane(run: Run | None = None) -> None:
    """Harden one control-plane node from its plan: supporting files, manifests (health-gated), file modes,
    encryption rewrite, kubeadm-config."""
    chosen = current_run(run)
    plan = chosen.plan.hosts[host.name]
    hstate = chosen.states[host.name]
    target = next(t for t in chosen.targets if t.name == host.name)
    _op(
        chosen,
        operations.rollout_guard,
        f"{GUARD_PREFIX}: stop if an earlier control plane failed",
        rollout=chosen.rollout,
    )
    _supporting_files(chosen, plan, hstate)
    for component in plan.components:
        _op(
            chosen,
            operations.static_pod_manifest,
            name=f"{component.component}: manifest [{', '.join(component.control_ids) or 'no change'}]",
            component=component.component,
            content=component.after,
            current=component.before,
            backup_dir=str(target.profile["kubeharden_backup_dir"]),
            rollout=chosen.rollout,
            timeout=int(target.profile["kubeharden_health_timeout"]),
            _serial=True,
        )
    _file_modes(chosen, plan)
    if plan.rewrite:
        _op(
            chosen,
            operations.rewrite_resources,
            name=f"1.2.27: rewrite existing {', '.join(plan.rewrite)} so they are stored encrypted",
            resources=plan.rewrite,
            rollout=chosen.rollout,
        )
    if plan.cluster_config is not None:
        current, planned = plan.cluster_config
        _op(
            chosen,
            operations.kubeadm_cluster_configuration,
            name="kubeadm-config: ClusterConfiguration extraArgs/extraVolumes (kept by kubeadm upgrade)",
            current=current,
            planned=planned,
        )
    _kubelet(chosen, plan)
    if plan.kubelet_configmap is not None:
        current_kubelet, planned_kubelet, ids = plan.kubelet_configmap
        _op(
            chosen,
            operations.kubeadm_cluster_configuration,
            name=f"kubelet-config: KubeletConfiguration [{', '.join(ids)}] (kept by kubeadm join and upgrade node)",
            current=current_kubelet,
            planned=planned_kubelet,
            configmap="kubelet-config",
            key="kubelet",
        )


def harden(run: Run | None = None) -> None:
    """Entry for deploys/harden.py: every host gets the firewall, control-plane nodes the control-plane hardening,
    workers their file controls.

    The firewall comes first: its operation is then the same one on every host (pyinfra orders operations by their
    count per host), and a firewall that cannot be confirmed stops the run before anything else changes.
    """
    chosen = current_run(run)
    harden_firewall(run=chosen)
    if chosen.plan.hosts[host.name].role == "control_plane":
        harden_control_plane(run=chosen)
    else:
        harden_node_files(run=chosen)
