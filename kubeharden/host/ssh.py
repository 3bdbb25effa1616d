"""OpenSSH command lines kubeharden builds itself (verify's collection, the firewall's confirmation, the testinfra
suite's ssh_config), in one neutral place: strict host-key checking on every connection whatever a config file
says, batch mode (never a password prompt), never a multiplexed connection, and the host's key, user and port.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

CONNECT_TIMEOUT = 10

STRICT: tuple[str, ...] = (
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "ControlMaster=no",
    "-o",
    "ControlPath=none",
    "-o",
    "UpdateHostKeys=no",
)
"""Options on the command line win over any ssh_config: a changed host key stops the connection, known_hosts is
never written, and an open ControlMaster of the inventory's ssh_config is never reused."""


def _option_value(value: str) -> str:
    """ssh -o values are split on whitespace unless quoted."""
    return f'"{value}"' if any(c.isspace() for c in value) else value


def ssh_options(data: Mapping[str, Any], connect_timeout: int = CONNECT_TIMEOUT) -> list[str]:
    """OpenSSH options from a host's pyinfra data (key, user, port, known_hosts), strict whatever else it says."""
    options = [*STRICT, "-o", f"ConnectTimeout={connect_timeout}"]
    if data.get("ssh_known_hosts_file"):
        options += ["-o", f"UserKnownHostsFile={_option_value(str(data['ssh_known_hosts_file']))}"]
    if data.get("ssh_key"):
        options += ["-i", str(data["ssh_key"]), "-o", "IdentitiesOnly=yes"]
    if data.get("ssh_user"):
        options += ["-l", str(data["ssh_user"])]
    if data.get("ssh_port"):
        options += ["-p", str(int(data["ssh_port"]))]
    return options


def ssh_argv(data: Mapping[str, Any], name: str, command: str, connect_timeout: int = CONNECT_TIMEOUT) -> list[str]:
    """A NEW strict OpenSSH connection to the host running ``command`` (its ssh_config_file with -F when given)."""
    argv = ["ssh"]
    if data.get("ssh_config_file"):
        argv += ["-F", str(data["ssh_config_file"])]
    argv += ssh_options(data, connect_timeout)
    return [*argv, "--", str(data.get("ssh_hostname") or name), command]


def write_ssh_config(
    hosts: Mapping[str, tuple[str, Mapping[str, Any]]], path: Path, control_dir: Path | None = None
) -> dict[str, str]:
    """An ssh_config for hosts (name -> (address, data)) whose data names none: strict host keys, batch mode, their
    key, user and port. Returns host name -> the alias to connect to. ControlPath has no ``%`` tokens (testinfra
    formats the command line with ``%``), so it lives in a short directory of its own."""
    aliases: dict[str, str] = {}
    blocks: list[str] = []
    for index, (name, (address, data)) in enumerate(hosts.items()):
        alias = f"kh-{index}"
        aliases[name] = alias
        lines = [f"Host {alias}", f"  HostName {address}", "  StrictHostKeyChecking yes", "  BatchMode yes"]
        lines += ["  UpdateHostKeys no", f"  ConnectTimeout {CONNECT_TIMEOUT}"]
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
