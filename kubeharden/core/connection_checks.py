"""How a host is reached (pyinfra's ``ssh_*`` data, ``node_ip``), checked before any host is contacted. Pure.

Each problem names the host and the key, so a typo or a wrong type is an exit-2 message instead of a traceback from
pyinfra or paramiko after connecting. Host keys are never trusted on first use: ``ssh_strict_host_key_checking``
must be the string ``"yes"`` where it is given, and where kubeharden cannot force it (pyinfra's own CLI without
kubeharden's pre-connect guard) it must be given, because pyinfra's default is ``accept-new``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

SSH_KEYS = frozenset(
    {
        "ssh_hostname", "ssh_port", "ssh_user", "ssh_password", "ssh_key", "ssh_key_password", "ssh_allow_agent",
        "ssh_look_for_keys", "ssh_forward_agent", "ssh_config_file", "ssh_known_hosts_file",
        "ssh_strict_host_key_checking", "ssh_paramiko_connect_kwargs", "ssh_connect_retries",
        "ssh_connect_retry_min_delay", "ssh_connect_retry_max_delay", "ssh_file_transfer_protocol",
    }
)  # fmt: skip
"""pyinfra 3.10's SSH connector data (pyinfra/connectors/ssh.py)."""

PARAMIKO_KWARGS = frozenset(
    {"timeout", "banner_timeout", "auth_timeout", "channel_timeout", "compress", "disabled_algorithms"}
)
"""paramiko ``SSHClient.connect`` arguments an inventory may tune; none of them touches host-key checking."""

_STRINGS = ("ssh_hostname", "ssh_user", "ssh_key", "ssh_config_file", "ssh_known_hosts_file")
_BOOLS = ("ssh_allow_agent", "ssh_look_for_keys", "ssh_forward_agent")


def _strict(data: Mapping[str, Any], where: str, forced: bool) -> list[str]:
    if "ssh_strict_host_key_checking" not in data:
        if forced:
            return []
        return [
            f"{where}: ssh_strict_host_key_checking is not set, and pyinfra's default is 'accept-new' (a new host "
            "key is trusted and written to known_hosts): set it to 'yes' in the inventory, or run "
            "`kubeharden harden` / pyinfra with `--config deploys/config.py`, which force it"
        ]
    value = data["ssh_strict_host_key_checking"]
    if value != "yes":
        return [
            f"{where}: ssh_strict_host_key_checking is {value!r}; kubeharden connects only with strict host-key "
            "checking, the string 'yes': put the host key in the known_hosts file first"
        ]
    return []


def _types(data: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    for key in _STRINGS:
        if key in data and data[key] is not None and (not isinstance(data[key], str) or not data[key].strip()):
            problems.append(f"{where}: {key} must be a non-empty string (got {data[key]!r})")
    for key in _BOOLS:
        if key in data and not isinstance(data[key], bool):
            problems.append(f"{where}: {key} must be true or false (got {data[key]!r})")
    port = data.get("ssh_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        problems.append(f"{where}: ssh_port must be a whole number 1-65535 (got {port!r})")
    retries = data.get("ssh_connect_retries")
    if retries is not None and (isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 10):
        problems.append(f"{where}: ssh_connect_retries must be a whole number 0-10 (got {retries!r})")
    return problems


def _paramiko(data: Mapping[str, Any], where: str) -> list[str]:
    kwargs = data.get("ssh_paramiko_connect_kwargs")
    if kwargs is None:
        return []
    if not isinstance(kwargs, Mapping):
        return [f"{where}: ssh_paramiko_connect_kwargs must be a mapping (got {type(kwargs).__name__})"]
    unknown = sorted(str(k) for k in kwargs if k not in PARAMIKO_KWARGS)
    if unknown:
        return [
            f"{where}: ssh_paramiko_connect_kwargs has {', '.join(unknown)}, which kubeharden does not pass to "
            f"paramiko (allowed: {', '.join(sorted(PARAMIKO_KWARGS))})"
        ]
    bad = [k for k in ("timeout", "banner_timeout", "auth_timeout", "channel_timeout") if k in kwargs]
    return [
        f"{where}: ssh_paramiko_connect_kwargs.{k} must be a positive number of seconds (got {kwargs[k]!r})"
        for k in bad
        if isinstance(kwargs[k], bool) or not isinstance(kwargs[k], int | float) or kwargs[k] <= 0
    ]


def connection_problems(data: Mapping[str, Any], where: str, strict_forced: bool = True) -> list[str]:
    """Every problem with how the host is reached: SSH data keys, types and values, and its node_ip."""
    problems = [
        f"{where}: {key} is not a pyinfra SSH setting (known: {', '.join(sorted(SSH_KEYS))})"
        for key in sorted(k for k in data if isinstance(k, str) and k.startswith("ssh_") and k not in SSH_KEYS)
    ]
    problems += _strict(data, where, strict_forced) + _types(data, where) + _paramiko(data, where)
    node_ip = data.get("node_ip")
    if node_ip is not None:
        try:
            ipaddress.ip_address(str(node_ip))
        except ValueError:
            problems.append(f"{where}: node_ip {node_ip!r} is not an IP address (the node's cluster address)")
    return problems


__all__ = ["PARAMIKO_KWARGS", "SSH_KEYS", "connection_problems"]
