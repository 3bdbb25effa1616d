"""`kubeharden rotate-key INVENTORY`: rotate the secrets-encryption key without ever making data unreadable.

The documented rotation, each file step rolled out by the hardening deploy (one control plane at a time, every
kube-apiserver restarted through the health gate because the manifest carries the file's hash):
add the new key second -> move it first -> rewrite every configured resource -> remove the old key(s).
The first failure stops the rotation and says at which step; the file on the hosts is then one every apiserver
can read all data with, and `rotate-key` or `harden` can run again. The key never appears in any output.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from kubeharden.core import encryption
from kubeharden.core.rotation_resume import rotation_progress
from kubeharden.faces.harden_cli import (
    announce,
    check_writable,
    fail,
    load_targets,
    setup_logging,
    start,
    summarise,
    write_json,
)

if TYPE_CHECKING:
    from kubeharden.core.runplan import Target


def _current(targets: list[Target], path: str) -> dict[str, encryption.ReadBack | None]:
    """Every control plane's file (read back with the collector; None: it has none); exits when one cannot be read."""
    from kubeharden.core.state import CollectionError
    from kubeharden.faces.deploy import collect_all
    from kubeharden.host import pyinfra_adapter

    state = pyinfra_adapter.new_state((t.name, list(t.groups), t.data) for t in targets)
    failed = pyinfra_adapter.connect(state)
    if failed:
        fail("could not connect to: " + ", ".join(failed) + "\nno key was rotated.")
    try:
        states = collect_all(state, targets)
    except CollectionError as exc:
        fail(f"{exc}\nno key was rotated.")
    found: dict[str, encryption.ReadBack | None] = {}
    for target in targets:
        secret = states[target.name].secrets.get(path)
        if secret is None or secret.error:
            fail(
                f"{target.name}: {path} could not be read ({secret.error if secret else 'not collected'}); "
                "no key was rotated."
            )
        if not (secret is not None):
            raise AssertionError("invariant: secret is not None")  # an invariant, kept under python -O
        found[target.name] = None if secret.missing else encryption.ReadBack(str(secret.sha256), str(secret.text))
    return found


def plan_rotation(
    found: dict[str, encryption.ReadBack | None], settings: encryption.Settings, path: str
) -> tuple[str | None, list[encryption.RotationStep]]:
    """(what an interrupted rotation left, or None) and the steps to run: the rest of a rotation left half done,
    else a new rotation of the file every control plane shares. Raises EncryptionError with what to do."""
    missing = sorted(name for name, read in found.items() if read is None)
    if missing:
        raise encryption.EncryptionError(f"{path} is missing on {', '.join(missing)}: run `kubeharden harden` first")
    present = {name: read for name, read in found.items() if read is not None}
    progress = rotation_progress(present, settings)
    if progress is not None:
        return progress
    shared = encryption.shared_config(found)
    if shared is None:
        raise encryption.EncryptionError(f"no control plane has {path}: run `kubeharden harden` first")
    return None, encryption.rotation_steps(shared.text, settings)


def _roll_out(targets: list[Target], config: str) -> dict[str, Any]:
    """One file step: the whole hardening with this EncryptionConfiguration, one control plane at a time."""
    from pyinfra.api.exceptions import PyinfraError

    from kubeharden.host import pyinfra_adapter

    state, run = start(targets, None, encryption_override=config)
    try:
        pyinfra_adapter.run_serial_in_inventory_order(state, run.op_names, announce)
    except PyinfraError as exc:
        return {"failed_host": run.rollout.failed_host or "-", "error": str(exc), "hosts": {}}
    summary = summarise(state, run)
    if state.failed_hosts and not summary["failed_host"]:
        summary["failed_host"] = ", ".join(sorted(h.name for h in state.failed_hosts))
    return summary


def _rewrite(target: Target, resources: list[str]) -> dict[str, Any]:
    from pyinfra.api.operation import add_op

    from kubeharden.host import operations, pyinfra_adapter
    from kubeharden.host.rollout import Rollout

    rollout = Rollout()
    state = pyinfra_adapter.new_state([(target.name, list(target.groups), target.data)])
    failed = pyinfra_adapter.connect(state)
    if failed:
        return {"failed_host": target.name, "error": "could not connect", "rewritten": {}}
    add_op(state, operations.rewrite_resources, name="rewrite with the new key", resources=resources, rollout=rollout)
    pyinfra_adapter.run_serial_in_inventory_order(state)
    return {"failed_host": rollout.failed_host, "error": rollout.error, "rewritten": dict(rollout.rewritten)}


@click.command("rotate-key")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--summary-json", type=click.Path(dir_okay=False, path_type=Path), help="Write each step's outcome.")
def rotate_key(inventory: Path, summary_json: Path | None) -> None:
    """Rotate the secrets-encryption key on every control plane of INVENTORY, one safe step at a time."""
    check_writable(summary_json)
    _hosts, targets = load_targets(inventory)
    control_planes = [t for t in targets if t.role == "control_plane"]
    profile = control_planes[0].profile.values
    if not profile["kubeharden_encryption_enabled"]:
        fail("kubeharden_encryption_enabled is false: there is no key to rotate")
    settings = encryption.settings_from_profile(profile)
    path = str(profile["kubeharden_encryption_config_file"])

    setup_logging()
    click.echo(f"--> reading {path} from {len(control_planes)} control planes", err=True)
    found = _current(control_planes, path)
    try:
        resumed, steps = plan_rotation(found, settings, path)
    except encryption.EncryptionError as exc:
        fail(f"{exc}\nno key was rotated.")
    if resumed:
        click.echo(f"--> {resumed}: continuing it ({', '.join(s.name for s in steps)})", err=True)
    report: dict[str, Any] = {"steps": [], "ok": False, "resumed": resumed}

    def write() -> None:
        write_json(summary_json, report)

    first = next(read for read in found.values() if read is not None)
    previous = first.text
    for number, step in enumerate(steps, start=1):
        click.echo(f"--> step {number}/{len(steps)} {step.name}: {step.description}", err=True)
        started = time.monotonic()
        if step.rewrite:
            outcome = _rewrite(control_planes[0], list(settings.resources))
        else:
            if not (step.config is not None):
                raise AssertionError("invariant: step.config is not None")  # an invariant, kept under python -O
            outcome = _roll_out(targets, step.config)
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
            if step.name == "resume":
                restored = "every control plane keeps a file of this rotation that reads all data"
            elif not step.rewrite:
                click.echo("--> putting the previous step's file back on every control plane", err=True)
                back = _roll_out(targets, previous)
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
            fail(
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
    click.echo(f"key rotated on {', '.join(t.name for t in control_planes)}: {steps[-1].description}")
