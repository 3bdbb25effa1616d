"""The one place kubeharden touches pyinfra's internals (pyinfra 3.10): building a State from a validated inventory,
running a command with the host's own privilege and nothing printed, executing operations host by host in
inventory order, reading what each operation did, and keeping one object per run on the State.

If pyinfra changes, this module changes; nothing else imports ``pyinfra.api.operations`` private names.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from kubeharden.host.invoke import program_command

T = TypeVar("T")
_RUN_ATTRIBUTE = "_kubeharden_run"


def new_state(hosts: Iterable[tuple[str, list[str], Mapping[str, Any]]]) -> Any:
    """A pyinfra State for (name, groups, data) hosts, in this order; strict host-key checking forced on every
    host whatever its data says (validation refused anything else already)."""
    from pyinfra.api.config import Config
    from pyinfra.api.inventory import Inventory
    from pyinfra.api.state import State

    names: list[tuple[str, dict[str, Any]]] = []
    groups: dict[str, tuple[list[str], dict[str, Any]]] = {}
    for name, member_of, data in hosts:
        names.append((name, {**data, "ssh_strict_host_key_checking": "yes"}))
        for group in member_of:
            groups.setdefault(group, ([], {}))[0].append(name)
    inventory = Inventory((names, {}), **groups)  # type: ignore[no-untyped-call]
    return State(inventory, Config(), check_for_changes=True)  # type: ignore[no-untyped-call]


def quiet_paramiko() -> None:
    """paramiko logs a failed handshake (a port that is not SSH: "Error reading SSH protocol banner") as a
    traceback from its transport thread; pyinfra reports the same error as one line per host, which is enough."""
    logging.getLogger("paramiko").setLevel(logging.CRITICAL)


def connect(state: Any) -> list[str]:
    """Connect every host; the names of those that failed (pyinfra raises "No hosts remaining!" when all did:
    that is the same answer, not an error of its own)."""
    from pyinfra.api.connect import connect_all
    from pyinfra.api.exceptions import PyinfraError

    quiet_paramiko()
    try:
        connect_all(state)
    except PyinfraError:
        if not state.failed_hosts:
            raise
    return sorted(h.name for h in state.failed_hosts)


def privilege(state: Any, host: Any) -> dict[str, Any]:
    """The connector arguments the host's data asks for (``_sudo``, ``_sudo_user``, ``_su_user``, ...), resolved as
    pyinfra resolves them for an operation, so a command run from a callback runs with the same privilege."""
    from pyinfra.api.arguments import CONNECTOR_ARGUMENT_KEYS, pop_global_arguments

    arguments, _ = pop_global_arguments(state, host, {})
    return {k: v for k, v in arguments.items() if k in CONNECTOR_ARGUMENT_KEYS}


def run(state: Any, host: Any, command: Any) -> tuple[bool, list[str], list[str]]:
    """Run ``command`` on ``host`` with its privilege, printing neither command nor output (outputs may hold
    key material)."""
    ok, output = host.run_shell_command(command, print_output=False, print_input=False, **privilege(state, host))
    return bool(ok), list(output.stdout_lines), list(output.stderr_lines)


def run_program(state: Any, host: Any, name: str, argument: Mapping[str, Any]) -> tuple[bool, list[str], list[str]]:
    """Run one of kubeharden's on-host programs (kubeharden.host.invoke) on ``host``."""
    from pyinfra.api.command import StringCommand

    return run(state, host, StringCommand(program_command(name, argument)))


def per_run(state: Any, make: Callable[[], T]) -> T:
    """The run's own object, made once per pyinfra State. pyinfra's CLI prepares every host at the same time, each
    in a greenlet: the first makes the run (collects and plans once, one key at most), the others wait for it and get
    the same object, or the same error."""
    import gevent.lock

    found = getattr(state, _RUN_ATTRIBUTE, None)
    if found is None:
        lock = state.__dict__.setdefault("_kubeharden_run_lock", gevent.lock.RLock())
        with lock:
            found = getattr(state, _RUN_ATTRIBUTE, None)
            if found is None:
                try:
                    found = make()
                except Exception as exc:  # every host's preparation reports the run's one error
                    found = exc
                setattr(state, _RUN_ATTRIBUTE, found)
    if isinstance(found, Exception):
        raise found
    return found


def run_serial_in_inventory_order(
    state: Any,
    names: Mapping[tuple[str, str], str] | None = None,
    announce: Callable[[str, str], None] | None = None,
) -> None:
    """Execute every operation host by host, in the inventory's order (control planes in their group's order),
    announcing each with the host's own name of it (``announce(host, name)``; pyinfra's log would show the merged
    names of one operation number across hosts, and "Skipped" for numbers a host does not have).

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
                for op_hash in state.get_op_order():
                    if op_hash not in state.ops[host]:
                        continue
                    name = _name(state, host, op_hash, names)
                    if announce is not None:
                        announce(host.name, name)
                    if pyinfra_operations._run_host_op_with_context(state, host, op_hash) is False:
                        raise PyinfraError(f"Error in operation {name} on {host.name}")
            except PyinfraError:
                state.fail_hosts({host})


def remember_name(names: dict[tuple[str, str], str], host: Any, meta: Any, name: str) -> None:
    """Record ``host``'s own name of the operation ``meta`` (pyinfra keeps one set of names per operation hash, and
    its API numbers operations per host: different operations of different hosts share a hash)."""
    deploy = getattr(host, "current_deploy_name", None)
    names[(host.name, meta._hash)] = f"{deploy} | {name}" if deploy else name


def _name(state: Any, host: Any, op_hash: str, names: Mapping[tuple[str, str], str] | None) -> str:
    if names and (host.name, op_hash) in names:
        return names[(host.name, op_hash)]
    return ", ".join(sorted(state.get_op_meta(op_hash).names))


def operation_outcomes(
    state: Any, skip_prefix: str = "", names: Mapping[tuple[str, str], str] | None = None
) -> dict[str, dict[str, list[str]]]:
    """Per host: names of the operations that changed something, failed, or did not run (each host's own names,
    from ``names`` as ``remember_name`` recorded them)."""
    found: dict[str, dict[str, list[str]]] = {}
    for host in state.inventory:
        changed, failed, not_run = [], [], []
        for op_hash in state.get_op_order():
            op_data = state.ops[host].get(op_hash)
            if op_data is None:
                continue
            name = _name(state, host, op_hash, names)
            meta = op_data.operation_meta
            if not meta.is_complete():
                not_run.append(name)
            elif meta.did_error():
                failed.append(name)
            elif meta.did_change() and not (skip_prefix and name.startswith(skip_prefix)):
                changed.append(name)
        found[host.name] = {"changed": changed, "failed": failed, "not_run": not_run}
    return found


def planned_changes(state: Any, names: Mapping[tuple[str, str], str] | None = None) -> dict[str, list[str]]:
    """For --dry: per host, the operations that would change something."""
    plan: dict[str, list[str]] = {}
    for host in state.inventory:
        found = []
        for op_hash in state.get_op_order():
            op_data = state.ops[host].get(op_hash)
            if op_data is not None and op_data.operation_meta._maybe_is_change:
                found.append(_name(state, host, op_hash, names))
        plan[host.name] = found
    return plan


def control_planes(state: Any, group: str = "control_plane") -> list[Any]:
    return list(state.inventory.get_group(group))


def force_strict_host_keys(state: Any) -> None:
    """Strict host-key checking on every host of a State pyinfra's CLI made (its connector data is read when the
    host is made, so both the host data and the connector's copy are set)."""
    for host in state.inventory:
        host.data.ssh_strict_host_key_checking = "yes"
        connector_data = getattr(getattr(host, "connector", None), "data", None)
        if isinstance(connector_data, dict):
            connector_data["ssh_strict_host_key_checking"] = "yes"


def before_cli_connect(check_file: Callable[[str], None], check: Callable[[Any], None]) -> None:
    """In pyinfra's CLI (which runs a config file first: deploys/config.py calls this): ``check_file(path)`` on an
    inventory file before pyinfra parses it (its own type errors would exit 1 without naming the host), and
    ``check(state)`` after it loaded the inventory and before it connects to any host. Both exit on a problem."""
    import pyinfra_cli.cli as pyinfra_cli  # type: ignore[import-untyped]

    connect_all = pyinfra_cli.connect_all
    if getattr(connect_all, "_kubeharden_guard", False):
        return
    make_inventory = pyinfra_cli.make_inventory

    def checked_inventory(inventory: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(inventory, str) and inventory.endswith(".py"):
            check_file(inventory)
        return make_inventory(inventory, *args, **kwargs)

    pyinfra_cli.make_inventory = checked_inventory

    def guarded(state: Any) -> None:
        check(state)
        quiet_paramiko()
        setattr(state, "_kubeharden_guarded", True)  # noqa: B010 -- pyinfra's State has no such field
        connect_all(state)

    setattr(guarded, "_kubeharden_guard", True)  # noqa: B010
    pyinfra_cli.connect_all = guarded


def cli_guarded(state: Any) -> bool:
    """Whether this State was checked (and made strict) by the pre-connect guard."""
    return bool(getattr(state, "_kubeharden_guarded", False))
