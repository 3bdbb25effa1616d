"""`kubeharden harden INVENTORY`: validate everything, then run the hardening deploy through pyinfra's API.

The inventory and every host's profile are validated before any host is contacted. Control-plane nodes are
hardened one at a time (pyinfra's serial mode), and the first failure stops the rollout. The summary lists, per
host, what changed, so CI can assert that a second run changes nothing.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from kubeharden.inventory_file import InventoryError, InventoryHost, load_inventory
from kubeharden.profile import AREA_SWITCHES, ProfileError, validate_inventory

GUARD_PREFIX = "kubeharden rollout guard"


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _pyinfra_inventory(hosts: dict[str, InventoryHost], only: str | None) -> Any:
    from pyinfra.api.inventory import Inventory

    extra = {"kubeharden_only": only} if only else {}
    names = [(name, {**h.data, **extra}) for name, h in hosts.items()]
    groups: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for name, h in hosts.items():
        for group in h.groups:
            groups.setdefault(group, ([], {}))[0].append(name)
    return Inventory((names, {}), **groups)  # type: ignore[no-untyped-call]


def summarise(state: Any) -> dict[str, Any]:
    """Per host: the operations that changed something, and the failure if any."""
    from kubeharden.operations import ROLLOUT

    summary: dict[str, Any] = {"hosts": {}, "failed_host": ROLLOUT.failed_host, "error": ROLLOUT.error}
    for host in state.inventory:
        changed, failed = [], []
        for op_hash in state.get_op_order():
            op_data = state.ops[host].get(op_hash)
            if op_data is None:
                continue
            name = ", ".join(sorted(state.get_op_meta(op_hash).names))
            meta = op_data.operation_meta
            if not meta.is_complete():
                continue
            if meta.did_error():
                failed.append(name)
            elif meta.did_change() and not name.startswith(GUARD_PREFIX):
                changed.append(name)
        summary["hosts"][host.name] = {
            "changed": changed,
            "failed": failed,
            "components": ROLLOUT.results.get(host.name, []),
        }
    summary["changed"] = any(h["changed"] for h in summary["hosts"].values())
    summary["rewritten"] = dict(ROLLOUT.rewritten)
    return summary


def run_serial_in_inventory_order(state: Any) -> None:
    """Run every operation host by host, in the inventory's order (control planes in their group's order).

    pyinfra's own serial mode walks ``state.active_hosts``, a set: its order is not the inventory's, so the "last"
    control plane could go first (the encryption rewrite would then run before the others have the config).
    """
    from pyinfra.api import operations as pyinfra_operations
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.context import ctx_state

    state.is_executing = True
    with ctx_state.use(state):
        for host in list(state.inventory):
            if host not in state.active_hosts:
                continue
            try:
                pyinfra_operations._run_host_ops(state, host)
            except PyinfraError:
                state.fail_hosts({host})


def planned_changes(state: Any) -> dict[str, list[str]]:
    """For --dry: per host, the operations that would change something."""
    plan: dict[str, list[str]] = {}
    for host in state.inventory:
        names = []
        for op_hash in state.get_op_order():
            op_data = state.ops[host].get(op_hash)
            if op_data is not None and op_data.operation_meta._maybe_is_change:
                names.append(", ".join(sorted(state.get_op_meta(op_hash).names)))
        plan[host.name] = names
    return plan


@click.command("harden")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dry", is_flag=True, help="Read facts and show what would change; change nothing.")
@click.option("--only", "only", default=None, help=f"Comma list of areas to harden ({', '.join(AREA_SWITCHES)}).")
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), help="Write what changed per host.")
def harden(inventory: Path, dry: bool, only: str | None, summary_json: Path | None) -> None:
    """Harden the control plane of the hosts in a pyinfra INVENTORY."""
    try:
        hosts = load_inventory(inventory)
        validate_inventory({name: (h.groups, h.data) for name, h in hosts.items()})
    except (InventoryError, ProfileError) as exc:
        _fail(f"{exc}\nno host was contacted.")
    if only:
        unknown = {a.strip() for a in only.split(",")} - set(AREA_SWITCHES)
        if unknown:
            _fail(f"--only names unknown areas: {', '.join(sorted(unknown))} (known: {', '.join(AREA_SWITCHES)})")

    from pyinfra.api.config import Config
    from pyinfra.api.connect import connect_all
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError
    from pyinfra.api.state import State

    from kubeharden.deploy import harden as harden_deploy
    from kubeharden.operations import ROLLOUT

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    ROLLOUT.reset()
    state = State(_pyinfra_inventory(hosts, only), Config(), check_for_changes=True)  # type: ignore[no-untyped-call]
    try:
        click.echo(f"--> connecting to {len(hosts)} hosts (strict host-key checking)", err=True)
        connect_all(state)
        if state.failed_hosts:
            _fail("could not connect to: " + ", ".join(sorted(h.name for h in state.failed_hosts)))
        click.echo("--> planning every host (nothing is changed before all plans are valid)", err=True)
        add_deploy(state, harden_deploy)
    except PyinfraError as exc:
        _fail(f"{exc}\nno host was changed.")
    if dry:
        plan = planned_changes(state)
        for name, ops in plan.items():
            click.echo(f"{name}: {len(ops)} change(s)")
            for op in ops:
                click.echo(f"    {op}")
        if summary_json:
            summary_json.write_text(json.dumps({"dry": True, "hosts": plan}, indent=2) + "\n")
        return
    click.echo("--> applying, one host at a time", err=True)
    try:
        run_serial_in_inventory_order(state)
    except PyinfraError as exc:
        click.echo(f"pyinfra: {exc}", err=True)
    summary = summarise(state)
    if summary_json:
        tmp = summary_json.with_suffix(".tmp")
        tmp.write_text(json.dumps(summary, indent=2) + "\n")
        tmp.replace(summary_json)
    for name, result in summary["hosts"].items():
        status = "FAILED" if result["failed"] else ("changed" if result["changed"] else "no change")
        click.echo(f"{name}: {status}")
        for op in result["changed"]:
            click.echo(f"    changed: {op}")
        for op in result["failed"]:
            click.echo(f"    FAILED:  {op}")
    for resource, count in summary["rewritten"].items():
        click.echo(f"encryption: {count} {resource} rewritten (stored encrypted)")
    if summary["failed_host"] or state.failed_hosts:
        _fail(f"hardening stopped at {summary['failed_host'] or 'a host'}: {summary['error']}", 1)
