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
from collections.abc import Generator, Iterable, Mapping
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.facts import FactBase
from pyinfra.api.operation import operation
from pyinfra.context import host

from kubeharden.facts import _python_command
from kubeharden.firewall import (
    FAMILY,
    NFTABLES_CONF,
    PERSIST_PATH,
    REVERT_UNIT,
    STATE_DIR,
    TABLE,
    digest,
    normalise_loaded,
)
from kubeharden.operations import ROLLOUT, _guard
from kubeharden.verify.collect import ssh_options

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
STATE_FILE = f"{STATE_DIR}/state.json"
SSH_KEYS = ("ssh_hostname", "ssh_user", "ssh_port", "ssh_key", "ssh_known_hosts_file", "ssh_config_file", "_sudo")

_FIREWALL_PROGRAM = r"""
import hashlib, json, os, shutil, subprocess, sys
table, persist, conf, state_file, include = sys.argv[1:6]
out = {"nft": shutil.which("nft") or ("/usr/sbin/nft" if os.path.exists("/usr/sbin/nft") else None),
       "loaded": None, "state": None, "persist": None, "conf_include": False, "service": None}
if out["nft"]:
    p = subprocess.run([out["nft"], "-j", "list", "table", "inet", table], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE)
    if p.returncode == 0:
        out["loaded"] = p.stdout.decode("utf-8", "replace")
try:
    out["state"] = json.load(open(state_file))
except (OSError, ValueError):
    pass
try:
    st = os.stat(persist)
    out["persist"] = {"mode": format(st.st_mode & 0o7777, "o"), "uid": st.st_uid, "gid": st.st_gid,
                      "sha256": hashlib.sha256(open(persist, "rb").read()).hexdigest()}
except OSError:
    pass
try:
    out["conf_include"] = any(line.strip() == include for line in open(conf))
except OSError:
    pass
try:
    p = subprocess.run(["systemctl", "is-enabled", "nftables.service"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out["service"] = p.stdout.decode().strip() or None
except OSError:
    pass
print(json.dumps(out))
"""


class FirewallState(FactBase[dict[str, Any]]):
    """kubeharden's nftables table as loaded (`nft -j`), what kubeharden recorded after its last confirmed load, and
    the persistence (our file, the include in /etc/nftables.conf, nftables.service).

    .. code:: python

        {"nft": "/usr/sbin/nft" | None, "loaded": "<nft -j text>" | None, "state": {"rendered": sha, "loaded": sha},
         "persist": {"mode": "600", "uid": 0, "gid": 0, "sha256": "..."} | None, "conf_include": True,
         "service": "enabled" | "disabled" | None}
    """

    def requires_command(self) -> str:
        return "python3"

    def command(self) -> str:
        return _python_command(_FIREWALL_PROGRAM, TABLE, PERSIST_PATH, NFTABLES_CONF, STATE_FILE, INCLUDE_LINE)

    def process(self, output: Iterable[str]) -> dict[str, Any]:
        data: dict[str, Any] = json.loads("\n".join(output))
        return data

    @staticmethod
    def default() -> dict[str, Any]:
        return {"nft": None, "loaded": None, "state": None, "persist": None, "conf_include": False, "service": None}


def is_current(current: Mapping[str, Any], content: str) -> bool:
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
        and bool(current.get("conf_include"))
        and current.get("service") == "enabled"
    )


def new_ssh_argv(data: Mapping[str, Any], name: str, command: str, connect_timeout: int = 10) -> list[str]:
    """A NEW OpenSSH connection to the host (never a multiplexed one): its strict host-key settings, its key, user
    and port, ControlMaster off whatever its ssh_config says."""
    argv = ["ssh"]
    if data.get("ssh_config_file"):
        argv += ["-F", str(data["ssh_config_file"])]
    argv += ["-o", f"ConnectTimeout={connect_timeout}", "-o", "ControlMaster=no", "-o", "ControlPath=none"]
    argv += ssh_options(data)
    return [*argv, "--", str(data.get("ssh_hostname") or name), ("sudo -n " if data.get("_sudo") else "") + command]


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
            return False, f"the revert timer was no longer active (it fired already): {stderr[-300:]}"
        last = f"new SSH connection failed: {stderr[-300:] or 'no message'}"
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


def _record_state(host: Any, content: str) -> bool:
    status, output = host.run_shell_command(
        StringCommand("nft", "-j", "list", "table", FAMILY, TABLE), print_output=False, print_input=False
    )
    loaded = normalise_loaded("\n".join(output.stdout_lines)) if status else None
    record = json.dumps({"rendered": digest(content), "loaded": loaded})
    done, _ = host.run_shell_command(
        StringCommand("umask 077 && printf '%s\\n'", Q(record), ">", Q(STATE_FILE)), print_output=False
    )
    return bool(status and done and loaded)


def _fail(host: Any, result: dict[str, Any]) -> bool:
    ROLLOUT.failed_host = host.name
    ROLLOUT.error = str(result["error"])
    ROLLOUT.results.setdefault(host.name, []).append(result)
    host.log(f"firewall: FAILED: {result['error']}")
    return False


def _apply(state: Any, host: Any, content: str, timeout: int, data: dict[str, Any]) -> bool:
    if not _guard(state, host):
        return False
    result: dict[str, Any] = {"component": "firewall", "ok": False, "confirmed": False}
    ok, output = host.run_shell_command(StringCommand("nft", "-c", "-f", Q(STAGED)), print_output=False)
    if not ok:
        result["error"] = "nft -c rejected the ruleset, nothing loaded: " + " ".join(output.stderr_lines)[-800:]
        return _fail(host, result)
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
    ok, output = host.run_shell_command(load, print_output=False, print_input=False)
    loaded_at = time.monotonic()
    if not ok:
        stderr = " ".join(output.stderr_lines)[-800:]
        result["error"] = f"loading the ruleset failed, the previous one is back: {stderr}"
        return _fail(host, result)
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
        return _fail(host, result)
    result["confirmed"] = True
    result["confirmed_after_seconds"] = round(time.monotonic() - loaded_at, 1)
    ok, output = host.run_shell_command(_persist_command(), print_output=False)
    if not ok or not _record_state(host, content):
        result["error"] = "confirmed, but persisting failed: " + " ".join(output.stderr_lines)[-800:]
        return _fail(host, result)
    result["ok"] = True
    ROLLOUT.results.setdefault(host.name, []).append(result)
    host.log(f"firewall: confirmed over a new SSH connection after {result['confirmed_after_seconds']}s, persisted")
    return True


@operation()
def ruleset(content: str, current: dict[str, Any], confirm_timeout: int = 45) -> Generator[PyinfraCommand, None, None]:
    """
    Load kubeharden's nftables table with commit-confirm, then persist it.

    `nft -c` checks the file first; the previous state of OUR table is saved on the host and a transient systemd
    timer restores it after `confirm_timeout` seconds unless kubeharden reconnects over a NEW SSH connection and
    stops the timer. Only then is the ruleset persisted (/etc/nftables.d/kubeharden.nft mode 600, included from
    /etc/nftables.conf, nftables.service enabled). A failed confirmation stops the rollout.

    + content: the rendered nft file (kubeharden.firewall.render); never printed
    + current: the FirewallState fact
    + confirm_timeout: seconds before the host reverts by itself

    **Example:**

    .. code:: python

        ruleset(name="KH-FW-TABLE nftables table inet kubeharden", content=text,
                current=host.get_fact(FirewallState), confirm_timeout=45)
    """
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
    yield FunctionCommand(_apply, (content, confirm_timeout, data), {})
