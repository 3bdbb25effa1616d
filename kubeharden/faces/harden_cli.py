"""`kubeharden harden INVENTORY`: validate everything, collect once, plan the whole run, then apply it.

The inventory and every host's profile are validated before any host is contacted; every host is collected and
planned before anything is changed (a plan with a problem changes nothing anywhere). Hosts are then hardened one at
a time in inventory order, and the first failure stops the rollout. The summary lists, per host, what changed, so
CI can assert that a second run changes nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubeharden.core.catalog import AREAS
from kubeharden.core.inventory import InventoryHost
from kubeharden.core.profile import ProfileError
from kubeharden.core.profile_checks import validate_inventory
from kubeharden.faces.inventory_file import InventoryError, load_inventory

if TYPE_CHECKING:
    from kubeharden.core.runplan import Target


def fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load_targets(inventory: Path) -> tuple[dict[str, InventoryHost], list[Target]]:
    """The inventory's hosts and validated targets (exit 2 with every problem; no host contacted)."""
    from kubeharden.core.runplan import Target

    try:
        hosts = load_inventory(inventory)
        profiles = validate_inventory({name: (h.groups, h.data) for name, h in hosts.items()})
    except (InventoryError, ProfileError) as exc:
        fail(f"{exc}\nno host was contacted.")
    targets = [Target(n, h.role, tuple(h.groups), h.data, profiles[n]) for n, h in hosts.items()]
    return hosts, targets


def parse_only(only: str | None) -> frozenset[str] | None:
    """``--only a,b``: the areas this run plans (a run selection, never a waiver)."""
    if only is None:
        return None
    wanted = {a.strip() for a in only.split(",") if a.strip()}
    if not wanted:
        fail(f"--only needs at least one area (known: {', '.join(AREAS)})")
    unknown = wanted - set(AREAS)
    if unknown:
        fail(f"--only names unknown areas: {', '.join(sorted(unknown))} (known: {', '.join(AREAS)})")
    return frozenset(wanted)


def setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)  # see pyinfra_adapter.quiet_paramiko


def start(targets: list[Target], selection: frozenset[str] | None, encryption_override: str | None = None) -> Any:
    """Connect, collect, plan and add the operations: (pyinfra State, Run). Exits 2 before any change on a problem."""
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError

    from kubeharden.faces.deploy import harden as harden_deploy
    from kubeharden.faces.deploy import prepare_run
    from kubeharden.host import pyinfra_adapter

    state = pyinfra_adapter.new_state((t.name, list(t.groups), t.data) for t in targets)
    click.echo(f"--> connecting to {len(targets)} hosts (strict host-key checking)", err=True)
    failed = pyinfra_adapter.connect(state)
    if failed:
        fail("could not connect to: " + ", ".join(failed) + "\nno host was changed.")
    click.echo("--> collecting every host once, then planning all of them (nothing changes before that)", err=True)
    try:
        run = prepare_run(state, targets, selection, encryption_override)
        add_deploy(state, harden_deploy, run=run)
    except PyinfraError as exc:
        fail(f"{exc}\nno host was changed.")
    return state, run


def announce(host: str, operation: str) -> None:
    """One line per operation as it starts, with the host's own name of it."""
    click.echo(f"--> {host}: {operation}", err=True)


def summarise(state: Any, run: Any) -> dict[str, Any]:
    """Per host: what changed, what failed, what was never run because the rollout stopped; the run's outcome."""
    from kubeharden.faces.deploy import GUARD_PREFIX
    from kubeharden.host import pyinfra_adapter

    rollout = run.rollout
    outcomes = pyinfra_adapter.operation_outcomes(state, skip_prefix=GUARD_PREFIX, names=run.op_names)
    hosts: dict[str, Any] = {}
    for name, found in outcomes.items():
        if rollout.stopped_for(name) and name not in rollout.touched:
            status = "not touched"  # its guard failed it on purpose: nothing ran there
        elif found["failed"]:
            status = "failed"
        elif found["changed"]:
            status = "changed"
        else:
            status = "no change"
        hosts[name] = {**found, "status": status, "components": rollout.results.get(name, [])}
    return {
        "hosts": hosts,
        "failed_host": rollout.failed_host,
        "error": rollout.error,
        "changed": any(h["changed"] for h in hosts.values()),
        "rewritten": dict(rollout.rewritten),
        "notes": {
            name: plan.notes
            + [n for c in plan.components for n in c.notes]
            + (plan.kubelet.notes if plan.kubelet is not None else [])
            for name, plan in run.plan.hosts.items()
        },
    }


def write_json(path: Path | None, document: Mapping[str, Any]) -> None:
    """Atomically, mode 600; a path that cannot be written is refused before any host is contacted
    (``check_writable``), so results are never lost after a run."""
    if path is None:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(document, indent=2) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)


def check_writable(path: Path | None) -> None:
    if path is not None and not path.parent.is_dir():
        fail(f"{path}: its directory {path.parent} does not exist (nothing was contacted)")


def print_summary(summary: Mapping[str, Any]) -> None:
    for name, result in summary["hosts"].items():
        click.echo(f"{name}: {result['status']}")
        for op in result["changed"]:
            click.echo(f"    changed: {op}")
        for op in result["failed"]:
            click.echo(f"    FAILED:  {op}")
    for resource, count in summary["rewritten"].items():
        click.echo(f"encryption: {count} {resource} rewritten (stored encrypted)")


@click.command("harden")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry", is_flag=True, help="Collect and plan; show what would change; change nothing.")
@click.option("--only", "only", default=None, help=f"Comma list of areas to harden ({', '.join(AREAS)}).")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), help="Write what changed per host.")
def harden(inventory: Path, dry: bool, only: str | None, summary_json: Path | None) -> None:
    """Harden the hosts in a pyinfra INVENTORY by their role."""
    selection = parse_only(only)
    check_writable(summary_json)
    _hosts, targets = load_targets(inventory)
    from pyinfra.api.exceptions import PyinfraError

    from kubeharden.host import pyinfra_adapter

    setup_logging()
    state, run = start(targets, selection)
    if dry:
        plan = pyinfra_adapter.planned_changes(state, run.op_names)
        for name, ops in plan.items():
            click.echo(f"{name}: {len(ops)} change(s)")
            for op in ops:
                click.echo(f"    {op}")
        if run.plan.encryption.stage == "readers":
            click.echo(
                "encryption: this pass adds the key behind identity everywhere; a second pass makes it the writer"
            )
        write_json(summary_json, {"dry": True, "hosts": plan})
        return
    passes = []
    while True:
        click.echo("--> applying, one host at a time", err=True)
        try:
            pyinfra_adapter.run_serial_in_inventory_order(state, run.op_names, announce)
        except PyinfraError as exc:
            click.echo(f"pyinfra: {exc}", err=True)
        summary = summarise(state, run)
        summary["encryption_stage"] = run.plan.encryption.stage
        passes.append(summary)
        stopped = summary["failed_host"] or state.failed_hosts
        if stopped or run.plan.encryption.stage != "readers" or len(passes) > 1:
            break
        click.echo(
            "--> encryption: every control plane now reads the new key (identity still first); second pass: "
            "the key becomes the writer, then existing resources are rewritten",
            err=True,
        )
        state, run = start(targets, selection)
    changed = any(p["changed"] for p in passes)
    document = passes[0] if len(passes) == 1 else {**passes[-1], "changed": changed, "passes": passes}
    write_json(summary_json, document)
    for index, summary in enumerate(passes, 1):
        if len(passes) > 1:
            click.echo(f"pass {index} (encryption {summary['encryption_stage']}):")
        print_summary(summary)
    last = passes[-1]
    if last["failed_host"] or state.failed_hosts:
        fail(f"hardening stopped at {last['failed_host'] or 'a host'}: {last['error']}", 1)
