"""pyinfra fact and operation for kubeharden's own nftables table on Linux hosts (nft, systemd): read what is loaded,
and load a new ruleset with commit-confirm so that a ruleset which cuts the operator off reverts by itself.

Only the table `inet kubeharden` is read, saved, loaded and restored; other tables (kube-proxy's, the CNI's) are
never touched. Nothing here prints a ruleset's text.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from collections.abc import Generator, Mapping
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.operation import operation
from pyinfra.context import host

from kubeharden.core.firewall import (
    FAMILY,
    NFTABLES_CONF,
    PERSIST_PATH,
    REVERT_UNIT,
    STATE_DIR,
    STATE_FILE,
    TABLE,
    digest,
    normalise_loaded,
)
from kubeharden.host import pyinfra_adapter
from kubeharden.host.invoke import with_privilege
from kubeharden.host.operations import _guard
from kubeharden.host.rollout import Rollout
from kubeharden.host.ssh import ssh_argv
from kubeharden.host.transport import last_lines

Q = QuoteString
CONFIRMED = "KUBEHARDEN-FW-CONFIRMED"
INCLUDE_LINE = f'include "{PERSIST_PATH}"'
STAGED = f"{STATE_DIR}/kubeharden.nft.new"
WARM_UP = f"{STATE_DIR}/warm-up.nft"
WARM_UP_SECONDS = 3
WARM_UP_RULESET = f"""table {FAMILY} {TABLE}
delete table {FAMILY} {TABLE}
table {FAMILY} {TABLE} {{
	chain input {{
		type filter hook input priority filter; policy accept;
		ct state established,related accept comment "kubeharden: connection tracking warm-up before the first load"
	}}
}}
"""
"""Loaded for a few seconds before the first drop ruleset when nothing tracked connections yet: flows that already
exist (etcd peer streams, watches) are then known as established instead of being dropped as new mid-stream."""
REVERT_FILE = f"{STATE_DIR}/revert.nft"
SSH_KEYS = (
    "ssh_hostname",
    "ssh_user",
    "ssh_port",
    "ssh_key",
    "ssh_known_hosts_file",
    "ssh_config_file",
    "_sudo",
    "_sudo_user",
)


def is_current(current: Mapping[str, Any], content: str) -> bool:
    """``current``: the collector's firewall document (kubeharden.core.host_doc.FirewallDoc)."""
    """The loaded table is the one kubeharden loaded and confirmed for exactly this content (normalised, so a rule
    added or removed by hand counts as a change)."""
    recorded = current.get("state") or {}
    loaded = normalise_loaded(current.get("loaded"))
    return loaded is not None and recorded.get("loaded") == loaded and recorded.get("rendered") == digest(content)


def is_persisted(current: Mapping[str, Any], content: str) -> bool:
    persist = current.get("persist") or {}
    return (
        persist.get("sha256") == digest(content)
        and persist.get("mode") == "600"
        and persist.get("uid") == 0
        and bool(current.get("include"))
        and current.get("service") == "enabled"
    )


def new_ssh_argv(data: Mapping[str, Any], name: str, command: str, connect_timeout: int = 10) -> list[str]:
    """A NEW strict OpenSSH connection to the host (never a multiplexed one), with the host's privilege."""
    return ssh_argv(data, name, with_privilege(command, data), connect_timeout)


def _confirm(data: Mapping[str, Any], name: str, deadline: float) -> tuple[bool, str]:
    """Stop the revert timer over a new SSH connection before `deadline` (monotonic); (confirmed, last problem)."""
    command = (
        f"systemctl is-active --quiet {REVERT_UNIT}.timer && systemctl stop {REVERT_UNIT}.timer && echo {CONFIRMED}"
    )
    last = "no attempt"
    while (remaining := deadline - time.monotonic()) > 2:
        argv = new_ssh_argv(data, name, command, connect_timeout=max(2, min(10, int(remaining) - 1)))
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=remaining, check=False)
        except subprocess.TimeoutExpired:
            last = "the SSH connection did not answer in time"
            continue
        if CONFIRMED in proc.stdout.decode(errors="replace"):
            return True, ""
        stderr = proc.stderr.decode(errors="replace").strip()
        if proc.returncode != 255:
            return False, f"the revert timer was no longer active (it fired already): {last_lines(stderr, 300)}"
        last = f"new SSH connection failed: {last_lines(stderr, 300) or 'no message'}"
        time.sleep(1)
    return False, last


def _wait_for_ssh(data: Mapping[str, Any], name: str, timeout: float) -> float | None:
    """Seconds until a new SSH connection works again, None when it does not within `timeout`."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            proc = subprocess.run(new_ssh_argv(data, name, "true", 5), capture_output=True, timeout=15, check=False)
            if proc.returncode == 0:
                return time.monotonic() - started
        except subprocess.TimeoutExpired:
            pass
        time.sleep(1)
    return None


def _persist_command() -> StringCommand:
    return StringCommand(
        "install -d -m 755 /etc/nftables.d && install -m 600 -o root -g root",
        Q(STAGED),
        Q(PERSIST_PATH),
        "&& { test -e",
        Q(NFTABLES_CONF),
        "|| printf '%s\\n' '#!/usr/sbin/nft -f' >",
        Q(NFTABLES_CONF),
        "; } && { grep -qxF",
        Q(INCLUDE_LINE),
        Q(NFTABLES_CONF),
        "|| printf '%s\\n'",
        Q(INCLUDE_LINE),
        ">>",
        Q(NFTABLES_CONF),
        "; } && systemctl enable --quiet nftables.service",
    )


def _record_state(state: Any, host: Any, content: str) -> bool:
    status, stdout, _ = pyinfra_adapter.run(state, host, StringCommand("nft", "-j", "list", "table", FAMILY, TABLE))
    loaded = normalise_loaded("\n".join(stdout)) if status else None
    record = json.dumps({"rendered": digest(content), "loaded": loaded})
    done, _, _ = pyinfra_adapter.run(
        state, host, StringCommand("umask 077 && printf '%s\\n'", Q(record), ">", Q(STATE_FILE))
    )
    return bool(status and done and loaded)


def _fail(host: Any, result: dict[str, Any], rollout: Rollout) -> bool:
    rollout.fail(host.name, str(result["error"]), result)
    host.log(f"firewall: FAILED: {result['error']}")
    return False


def _apply(state: Any, host: Any, content: str, timeout: int, data: dict[str, Any], rollout: Rollout) -> bool:
    if not _guard(state, host, rollout):
        return False
    result: dict[str, Any] = {"component": "firewall", "ok": False, "confirmed": False}
    ok, _, stderr = pyinfra_adapter.run(state, host, StringCommand("nft", "-c", "-f", Q(STAGED)))
    if not ok:
        result["error"] = "nft -c rejected the ruleset, nothing loaded: " + " ".join(stderr)[-800:]
        return _fail(host, result, rollout)
    load = StringCommand(
        f"{{ echo 'table {FAMILY} {TABLE}'; echo 'delete table {FAMILY} {TABLE}'; nft list table {FAMILY} {TABLE}"
        " 2>/dev/null || true; } >",
        Q(REVERT_FILE),
        f"&& {{ systemctl stop {REVERT_UNIT}.timer {REVERT_UNIT}.service 2>/dev/null;"
        f" systemctl reset-failed {REVERT_UNIT}.timer {REVERT_UNIT}.service 2>/dev/null; true; }}",
        f"&& systemd-run --quiet --unit {REVERT_UNIT} --on-active={timeout}s --timer-property=AccuracySec=1s",
        '"$(command -v nft)" -f',
        Q(REVERT_FILE),
        f"&& {{ nft list table {FAMILY} {TABLE} >/dev/null 2>&1 || {{ nft -f",
        Q(WARM_UP),
        f"&& sleep {WARM_UP_SECONDS}; }}; }}",
        "&& { nft -f",
        Q(STAGED),
        "|| { nft -f",
        Q(REVERT_FILE),
        f"; systemctl stop {REVERT_UNIT}.timer; exit 3; }}; }}",
    )
    scheduled_at = time.monotonic()  # the revert timer starts with this command: deadlines count from here
    ok, _, stderr = pyinfra_adapter.run(state, host, load)
    loaded_at = time.monotonic()
    if not ok:
        result["error"] = f"loading the ruleset failed, the previous one is back: {' '.join(stderr)[-800:]}"
        return _fail(host, result, rollout)
    rollout.touched.add(host.name)
    host.log(f"firewall: loaded; the host reverts it in {timeout}s unless confirmed over a new SSH connection")
    confirmed, problem = _confirm(data, host.name, scheduled_at + timeout)
    if not confirmed:
        result["error"] = (
            f"firewall on {host.name}: no confirmation over a new SSH connection within {timeout}s ({problem}); "
            "the host restores its previous ruleset by itself and nothing was persisted. Check "
            "kubeharden_firewall_admin_cidrs: it must contain the address this tool connects from"
        )
        restored = _wait_for_ssh(data, host.name, timeout + 60 - (time.monotonic() - loaded_at))
        result["restored"] = restored is not None
        result["restored_after_seconds"] = round(time.monotonic() - loaded_at, 1) if restored is not None else None
        host.log(
            f"firewall: new SSH connections work again {result['restored_after_seconds']}s after the load"
            if restored is not None
            else "firewall: SSH still does not answer; reach the host by console"
        )
        return _fail(host, result, rollout)
    result["confirmed"] = True
    result["confirmed_after_seconds"] = round(time.monotonic() - loaded_at, 1)
    ok, _, stderr = pyinfra_adapter.run(state, host, _persist_command())
    if not ok or not _record_state(state, host, content):
        result["error"] = "confirmed, but persisting failed: " + " ".join(stderr)[-800:]
        return _fail(host, result, rollout)
    result["ok"] = True
    rollout.record(host.name, result)
    host.log(f"firewall: confirmed over a new SSH connection after {result['confirmed_after_seconds']}s, persisted")
    return True


@operation()
def ruleset(
    content: str, current: Mapping[str, Any] | None, rollout: Rollout, confirm_timeout: int = 45
) -> Generator[PyinfraCommand, None, None]:
    """
    Load kubeharden's nftables table with commit-confirm, then persist it.

    `nft -c` checks the file first; the previous state of OUR table is saved on the host and a transient systemd
    timer restores it after `confirm_timeout` seconds unless kubeharden reconnects over a NEW SSH connection and
    stops the timer. Only then is the ruleset persisted (/etc/nftables.d/kubeharden.nft mode 600, included from
    /etc/nftables.conf, nftables.service enabled). A failed confirmation stops the rollout.

    + content: the rendered nft file (kubeharden.core.firewall.render); never printed
    + current: the collector's firewall document (None: not collected)
    + rollout: the run's Rollout
    + confirm_timeout: seconds before the host reverts by itself

    **Example:**

    .. code:: python

        ruleset(name="KH-FW-TABLE nftables table inet kubeharden", content=text,
                current=document["firewall"], rollout=rollout, confirm_timeout=45)
    """
    current = current or {}
    if not current.get("nft"):
        raise OperationError(f"{host.name}: nft is not installed (Debian/Ubuntu: apt-get install nftables)")
    if is_current(current, content):
        if is_persisted(current, content):
            host.noop("the loaded table inet kubeharden is the confirmed ruleset, persisted")
            return
        yield StringCommand("mkdir", "-p", "-m", "700", STATE_DIR)
        yield FileUploadCommand(io.BytesIO(content.encode()), STAGED)
        yield _persist_command()
        return
    data = {key: host.data.get(key) for key in SSH_KEYS}
    yield StringCommand("mkdir", "-p", "-m", "700", STATE_DIR)
    yield FileUploadCommand(io.BytesIO(content.encode()), STAGED)
    yield FileUploadCommand(io.BytesIO(WARM_UP_RULESET.encode()), WARM_UP)
    yield StringCommand("chmod", "600", Q(STAGED), Q(WARM_UP))
    yield FunctionCommand(_apply, (content, confirm_timeout, data, rollout), {})
