"""`kubeharden rotate-key INVENTORY`: rotate the secrets-encryption key without ever making data unreadable.

The documented rotation, each file step rolled out by the hardening deploy (one control plane at a time, every
kube-apiserver restarted through the health gate because the manifest carries the file's hash):
add the new key second -> move it first -> rewrite every configured resource -> remove the old key(s).
The first failure stops the rotation and says at which step; the file on the hosts is then one every apiserver
can read all data with, and `rotate-key` or `harden` can run again. The key never appears in any output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import click

from kubeharden import encryption
from kubeharden.harden_cli import _pyinfra_inventory, run_serial_in_inventory_order, summarise
from kubeharden.inventory_file import InventoryError, InventoryHost, load_inventory
from kubeharden.profile import ProfileError, validate_inventory


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _state(hosts: dict[str, InventoryHost]) -> Any:
    from pyinfra.api.config import Config
    from pyinfra.api.connect import connect_all
    from pyinfra.api.state import State

    state = State(_pyinfra_inventory(hosts, None), Config(), check_for_changes=True)  # type: ignore[no-untyped-call]
    connect_all(state)
    if state.failed_hosts:
        _fail("could not connect to: " + ", ".join(sorted(h.name for h in state.failed_hosts)))
    return state


def _current(state: Any, path: str) -> encryption.ReadBack:
    from kubeharden import facts

    control_planes = list(state.inventory.get_group("control_plane"))
    found = {cp.name: cp.get_fact(facts.EncryptionConfigFile, path=path) for cp in control_planes}
    try:
        shared = encryption.shared_config(found)
    except encryption.EncryptionError as exc:
        _fail(f"{exc}\nno key was rotated.")
    missing = sorted(name for name, read in found.items() if read is None)
    if shared is None or missing:
        _fail(f"{path} is missing on {', '.join(missing)}: run `kubeharden harden` first; no key was rotated.")
    assert shared is not None
    return shared


def _roll_out(hosts: dict[str, InventoryHost], config: str) -> dict[str, Any]:
    """One file step: the hardening deploy with this EncryptionConfiguration, serial over the control planes."""
    from pyinfra.api.deploy import add_deploy
    from pyinfra.api.exceptions import PyinfraError

    from kubeharden import deploy
    from kubeharden.operations import ROLLOUT

    ROLLOUT.reset()
    deploy.ENCRYPTION_OVERRIDE["config"] = config
    try:
        state = _state(hosts)
        add_deploy(state, deploy.harden)
        run_serial_in_inventory_order(state)
    except PyinfraError as exc:
        return {"failed_host": ROLLOUT.failed_host or "-", "error": str(exc), "hosts": {}}
    finally:
        deploy.ENCRYPTION_OVERRIDE.clear()
    summary = summarise(state)
    if state.failed_hosts and not summary["failed_host"]:
        summary["failed_host"] = ", ".join(sorted(h.name for h in state.failed_hosts))
    return summary


def _rewrite(hosts: dict[str, InventoryHost], resources: list[str]) -> dict[str, Any]:
    from pyinfra.api.operation import add_op

    from kubeharden import operations
    from kubeharden.operations import ROLLOUT

    ROLLOUT.reset()
    first = next(name for name, h in hosts.items() if "control_plane" in h.groups)
    state = _state({first: hosts[first]})
    add_op(state, operations.rewrite_resources, name="rewrite with the new key", resources=resources)
    run_serial_in_inventory_order(state)
    return {"failed_host": ROLLOUT.failed_host, "error": ROLLOUT.error, "rewritten": dict(ROLLOUT.rewritten)}


@click.command("rotate-key")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), help="Write each step's outcome.")
def rotate_key(inventory: Path, summary_json: Path | None) -> None:
    """Rotate the secrets-encryption key on every control plane of INVENTORY, one safe step at a time."""
    try:
        hosts = load_inventory(inventory)
        profiles = validate_inventory({name: (h.groups, h.data) for name, h in hosts.items()})
    except (InventoryError, ProfileError) as exc:
        _fail(f"{exc}\nno host was contacted.")
    control_planes = {name: h for name, h in hosts.items() if "control_plane" in h.groups}
    profile = profiles[next(iter(control_planes))].values
    if not profile["kubeharden_encryption_enabled"]:
        _fail("kubeharden_encryption_enabled is false: there is no key to rotate")
    settings = encryption.settings_from_profile(profile)
    path = str(profile["kubeharden_encryption_config_file"])

    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    logging.getLogger("paramiko").setLevel(logging.WARNING)
    click.echo(f"--> reading {path} from {len(control_planes)} control planes", err=True)
    current = _current(_state(control_planes), path)
    try:
        steps = encryption.rotation_steps(current.text, settings)
    except encryption.EncryptionError as exc:
        _fail(f"{exc}\nno key was rotated.")
    report: dict[str, Any] = {"steps": [], "ok": False}

    def write() -> None:
        if summary_json:
            tmp = summary_json.with_suffix(".tmp")
            tmp.write_text(json.dumps(report, indent=2) + "\n")
            tmp.replace(summary_json)

    previous = current.text
    for number, step in enumerate(steps, start=1):
        click.echo(f"--> step {number}/{len(steps)} {step.name}: {step.description}", err=True)
        started = time.monotonic()
        if step.rewrite:
            outcome = _rewrite(hosts, list(settings.resources))
        else:
            assert step.config is not None
            outcome = _roll_out(hosts, step.config)
        entry = {
            "step": step.name,
            "description": step.description,
            "seconds": round(time.monotonic() - started, 1),
            "failed_host": outcome.get("failed_host"),
            "error": outcome.get("error"),
            "rewritten": outcome.get("rewritten", {}),
            "restarts": {
                name: [r for r in h.get("components", []) if r.get("component") == "kube-apiserver"]
                for name, h in outcome.get("hosts", {}).items()
            },
        }
        report["steps"].append(entry)
        write()
        if outcome.get("failed_host"):
            restored = "the file was unchanged by this step"
            if not step.rewrite:
                click.echo("--> putting the previous step's file back on every control plane", err=True)
                back = _roll_out(hosts, previous)
                report["rolled_back"] = {"failed_host": back.get("failed_host"), "error": back.get("error")}
                write()
                # Files are written before the manifest on each node, and a stopped roll-out touches no later node:
                # stopping again on the same node still leaves the previous file everywhere.
                if back.get("failed_host") in (None, outcome["failed_host"]):
                    restored = "the previous step's file is back on every control plane"
                else:
                    restored = (
                        f"putting the previous file back stopped at {back['failed_host']} ({back.get('error')}): "
                        "compare the files' sha256 on the control planes before running again"
                    )
            _fail(
                f"rotation stopped at step {number} ({step.name}) on {outcome['failed_host']}: {outcome.get('error')}"
                f"\n{restored}; every apiserver can still read all data (no step removes a key the data may use): "
                "fix the cause and run `kubeharden rotate-key` again",
                1,
            )
        if step.config is not None:
            previous = step.config
        for resource, count in entry["rewritten"].items():
            click.echo(f"    {count} {resource} rewritten", err=True)
        click.echo(f"    done in {entry['seconds']}s", err=True)
    report["ok"] = True
    write()
    click.echo(f"key rotated on {', '.join(control_planes)}: {steps[-1].description}")
