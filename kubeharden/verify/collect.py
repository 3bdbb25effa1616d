"""Collect each host's state over OpenSSH in ONE remote command: remote.py on python3's stdin, one JSON document back.

Hosts are collected in parallel threads. Every connection checks host keys strictly (StrictHostKeyChecking=yes
against the inventory's known_hosts), in batch mode (never a password prompt), and the remote commands are counted
per host so the "one command per host" promise is measured rather than assumed.
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubeharden.inventory_file import InventoryHost
from kubeharden.verify.state import CollectionError, HostState, collection_spec, host_state, parse_output

REMOTE_SOURCE = Path(__file__).with_name("remote.py")
CONNECT_TIMEOUT = 10
COMMAND_TIMEOUT = 120.0


def remote_script(spec: Mapping[str, Any] | None = None) -> str:
    """remote.py's source followed by the call that runs it with `spec` (what to collect)."""
    chosen = dict(spec) if spec is not None else collection_spec()
    return REMOTE_SOURCE.read_text() + f"\n\nmain({json.dumps(chosen, sort_keys=True)!r})\n"


def _option_value(value: str) -> str:
    """ssh -o values are split on whitespace unless quoted."""
    return f'"{value}"' if any(c.isspace() for c in value) else value


def ssh_options(data: Mapping[str, Any]) -> list[str]:
    """OpenSSH options from a host's pyinfra data, with strict host-key checking whatever its config says
    (options on the command line win over any ssh_config)."""
    options = ["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", f"ConnectTimeout={CONNECT_TIMEOUT}"]
    if data.get("ssh_known_hosts_file"):
        options += ["-o", f"UserKnownHostsFile={_option_value(str(data['ssh_known_hosts_file']))}"]
    if data.get("ssh_key"):
        options += ["-i", str(data["ssh_key"]), "-o", "IdentitiesOnly=yes"]
    if data.get("ssh_user"):
        options += ["-l", str(data["ssh_user"])]
    if data.get("ssh_port"):
        options += ["-p", str(int(data["ssh_port"]))]
    return options


def write_ssh_config(hosts: Mapping[str, InventoryHost], path: Path, control_dir: Path | None = None) -> dict[str, str]:
    """An ssh_config for hosts whose data names none: strict host keys, batch mode, their key, user and port.

    Returns host name -> the alias to connect to. ControlPath has no `%` tokens (testinfra formats the command
    line with `%`), so it lives in a short directory of its own.
    """
    aliases: dict[str, str] = {}
    blocks: list[str] = []
    for index, host in enumerate(hosts.values()):
        alias = f"kh-{index}"
        aliases[host.name] = alias
        data = host.data
        lines = [f"Host {alias}", f"  HostName {host.address}", "  StrictHostKeyChecking yes", "  BatchMode yes"]
        lines.append(f"  ConnectTimeout {CONNECT_TIMEOUT}")
        if data.get("ssh_user"):
            lines.append(f"  User {data['ssh_user']}")
        if data.get("ssh_port"):
            lines.append(f"  Port {int(data['ssh_port'])}")
        if data.get("ssh_key"):
            lines += [f"  IdentityFile {_option_value(str(data['ssh_key']))}", "  IdentitiesOnly yes"]
        if data.get("ssh_known_hosts_file"):
            lines.append(f"  UserKnownHostsFile {_option_value(str(data['ssh_known_hosts_file']))}")
        if control_dir is not None:
            lines += ["  ControlMaster auto", f"  ControlPath {control_dir}/{alias}", "  ControlPersist 60s"]
        blocks.append("\n".join(lines) + "\n")
    path.write_text("\n".join(blocks))
    path.chmod(0o600)
    return aliases


def python_command(data: Mapping[str, Any], argument: str = "-") -> str:
    """`python3 -` on the host, through `sudo -n` when its data asks for pyinfra's `_sudo`."""
    return ("sudo -n " if data.get("_sudo") else "") + "python3 " + argument


def ssh_command(host: InventoryHost, remote_command: str) -> list[str]:
    """The `ssh` argv that runs `remote_command` on `host` (its ssh_config_file with -F when given)."""
    command = ["ssh"]
    if host.data.get("ssh_config_file"):
        command += ["-F", str(host.data["ssh_config_file"])]
    return [*command, *ssh_options(host.data), "--", host.address, remote_command]


Transport = Callable[[InventoryHost, str], str]
"""Runs the collection script on a host and returns its stdout; raises CollectionError."""


class OpenSSHTransport:
    """Runs the script with `ssh HOST python3 -` and counts every remote command per host."""

    def __init__(self, timeout: float = COMMAND_TIMEOUT) -> None:
        self.timeout = timeout
        self.commands: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, host: InventoryHost, script: str) -> str:
        with self._lock:
            self.commands[host.name] += 1
        argv = ssh_command(host, python_command(host.data))
        try:
            proc = subprocess.run(argv, input=script.encode(), capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise CollectionError(f"host {host.name}: no answer within {self.timeout:.0f}s over SSH") from exc
        except OSError as exc:
            raise CollectionError(f"host {host.name}: cannot run ssh: {exc}") from exc
        stderr = proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 255:
            raise CollectionError(
                f"host {host.name} ({host.address}): SSH connection failed: {stderr[-500:] or 'no message'} "
                "(kubeharden checks host keys strictly: the host's key must be in ssh_known_hosts_file)"
            )
        if proc.returncode == 127:
            raise CollectionError(f"host {host.name}: python3 is not installed on the host ({stderr[-300:]})")
        if "future feature annotations" in stderr:
            raise CollectionError(f"host {host.name}: python3 on the host is older than 3.7, which kubeharden needs")
        if proc.returncode != 0:
            raise CollectionError(
                f"host {host.name}: the collection script exited {proc.returncode}: {stderr[-500:] or 'no message'}"
            )
        return proc.stdout.decode(errors="replace")


def collect_host(host: InventoryHost, transport: Transport, script: str | None = None) -> HostState:
    """One host's state from one run of the collection script; raises CollectionError."""
    document = parse_output(host.name, transport(host, script or remote_script()))
    return host_state(host.name, host.role, host.address, document)
