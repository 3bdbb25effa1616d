"""A verification run over a pyinfra inventory: validate everything first, then per host (in parallel) collect
the state in one remote command, run the live probes from this machine, and judge every control locally."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kubeharden.core.catalog import CONTROLS, Control, by_id
from kubeharden.core.collection import verify_spec
from kubeharden.core.inventory import InventoryHost
from kubeharden.core.judge import cross_check_encryption, judge_control, judge_host
from kubeharden.core.judge.kubelet_live import PROBE, kubelet_outcome
from kubeharden.core.profile import Profile, ProfileError
from kubeharden.core.profile_checks import validate_inventory
from kubeharden.core.results import HostRun, RunReport
from kubeharden.core.state import CollectionError, HostState
from kubeharden.faces.inventory_file import InventoryError, load_inventory
from kubeharden.host.probes import run_probes
from kubeharden.host.transport import OpenSSHTransport, Transport, collect_host, collector_command

KUBELET_LIVE = "KH-KUBELET-live"


class VerifyInputError(ValueError):
    """The inventory or profile is invalid: nothing was contacted. `problems` holds one sentence each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("cannot verify:\n  - " + "\n  - ".join(problems))


def load_targets(
    inventory: str | Path, limit: str | None = None
) -> tuple[dict[str, InventoryHost], dict[str, Profile]]:
    """The hosts to check and their validated profiles; the whole inventory is validated, whatever `limit` is."""
    try:
        hosts = load_inventory(inventory)
    except InventoryError as exc:
        raise VerifyInputError([str(exc)]) from exc
    try:
        profiles = validate_inventory({name: (h.groups, h.data) for name, h in hosts.items()})
    except ProfileError as exc:
        raise VerifyInputError(exc.problems) from exc
    if limit:
        hosts = {name: h for name, h in hosts.items() if limit in h.groups or name == limit}
        if not hosts:
            raise VerifyInputError([f"--limit {limit}: no host of the inventory is in that group or has that name"])
    return hosts, profiles


def verify_host(
    host: InventoryHost,
    profile: Profile,
    transport: Transport,
    command: str | None = None,
    probes: bool = True,
    controls: Iterable[Control] = CONTROLS,
) -> HostRun:
    """Collect, probe and judge one host; a host that cannot be collected gets an error, not results."""
    run = HostRun(host.name, host.role, host.address)
    started = time.monotonic()
    try:
        state = collect_host(host, transport, command)
    except CollectionError as exc:
        run.error = str(exc)
        return run
    finally:
        run.collect_seconds = time.monotonic() - started
    run.components = [c.describe() for c in state.components.values() if c.present]
    run.notes = list(state.notes)
    live = None
    if probes:
        live, run.probe_seconds = run_probes(state)
    run.results = judge_host(state, profile, live, controls)
    config = state.encryption.get("config")
    run.encryption_sha256 = config.get("sha256") if isinstance(config, dict) else None
    run.kubelet_probes = dict(state.kubelet_probes)
    return run


def apply_kubelet_probes(runs: list[HostRun], profiles: Mapping[str, Profile]) -> None:
    """KH-KUBELET-live for every host, from the first control plane that probed the nodes' kubelets (one of the
    hosts' own collections: no extra remote command)."""
    source = next((r for r in runs if r.role == "control_plane" and r.kubelet_probes), None)
    control = by_id()[KUBELET_LIVE]
    for run in runs:
        if run.error is not None or not any(r.control_id == KUBELET_LIVE for r in run.results):
            continue
        found = source.kubelet_probes.get(run.address) if source is not None else None
        outcome = kubelet_outcome(found, source.name if source else "-", run.address)
        result = judge_control(
            HostState(run.name, run.role, run.address), control, profiles[run.name], {PROBE: outcome}
        )
        run.results = [result if r.control_id == KUBELET_LIVE else r for r in run.results]


def run_verify(
    inventory: str | Path,
    limit: str | None = None,
    probes: bool = True,
    transport: OpenSSHTransport | None = None,
    controls: Iterable[Control] = CONTROLS,
    progress: Callable[[HostRun], None] | None = None,
) -> RunReport:
    """The whole run; raises VerifyInputError before contacting anything when the inventory is invalid."""
    started = time.monotonic()
    hosts, profiles = load_targets(inventory, limit)
    chosen = transport or OpenSSHTransport()
    wanted = list(controls)
    spec = verify_spec(wanted)
    if probes and any(c.id == KUBELET_LIVE for c in wanted):
        spec["kubelet_probe_targets"] = sorted({h.address for h in hosts.values()})

    def one(host: InventoryHost) -> HostRun:
        run = verify_host(host, profiles[host.name], chosen, collector_command(host.data, spec), probes, wanted)
        run.remote_commands = chosen.commands[host.name]
        if progress is not None:
            progress(run)
        return run

    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        runs = list(pool.map(one, hosts.values()))
    control_planes = [r for r in runs if r.role == "control_plane" and r.error is None]
    hashes = {r.name: r.encryption_sha256 for r in control_planes}
    for run in control_planes:
        run.results = cross_check_encryption(hashes, run.results)
    if probes:
        apply_kubelet_probes(runs, profiles)
    return RunReport(str(inventory), runs, time.monotonic() - started, probes)


def remote_commands(report: RunReport) -> Mapping[str, int]:
    """Remote commands used per host, as measured by the transport."""
    return {h.name: h.remote_commands for h in report.hosts}
