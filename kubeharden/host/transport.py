"""verify's collection over OpenSSH: the one collector (kubeharden.host.invoke) in ONE remote command per host.

Hosts are collected in parallel threads by the caller. Every connection is new and strict (kubeharden.host.ssh):
an unknown or changed host key stops that host before anything is sent. Remote commands are counted per host so
the "one command per host" promise is measured rather than assumed.
"""

from __future__ import annotations

import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

from kubeharden.core.collection import verify_spec
from kubeharden.core.host_doc import CollectSpec
from kubeharden.core.inventory import InventoryHost
from kubeharden.core.state import CollectionError, HostState, host_state, parse_output
from kubeharden.host.invoke import program_command, with_privilege
from kubeharden.host.ssh import ssh_argv

COMMAND_TIMEOUT = 120.0


Endpoint = InventoryHost

Transport = Callable[[Endpoint, str], str]
"""Runs a command on a host and returns its stdout; raises CollectionError."""


def collector_command(data: Mapping[str, Any], spec: CollectSpec | None = None) -> str:
    """The remote command that runs the collector with ``spec`` (verify's by default), with the host's privilege."""
    return with_privilege(program_command("collector", dict(spec if spec is not None else verify_spec())), data)


def last_lines(text: str, limit: int = 700) -> str:
    """The last whole lines of ``text`` within ``limit`` characters (never cut mid-word), joined by ' | '."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.startswith("@@@")]
    kept: list[str] = []
    for line in reversed(lines):
        if kept and sum(len(k) + 3 for k in kept) + len(line) > limit:
            break
        kept.insert(0, line)
    return " | ".join(kept)


def _explain(name: str, address: str, stderr: str) -> str:
    said = last_lines(stderr)
    if "Host key verification failed" in stderr or "REMOTE HOST IDENTIFICATION HAS CHANGED" in stderr:
        return (
            f"host {name} ({address}): its SSH host key is not the one in the known_hosts file (unknown or changed); "
            "kubeharden never trusts a key on first use: verify the key out of band and add it to "
            f"ssh_known_hosts_file. ssh said: {said}"
        )
    return (
        f"host {name} ({address}): SSH connection failed: {said or 'no message'} "
        "(kubeharden checks host keys strictly: the host's key must be in ssh_known_hosts_file)"
    )


class OpenSSHTransport:
    """Runs commands with a new strict ``ssh`` per call and counts them per host."""

    def __init__(self, timeout: float = COMMAND_TIMEOUT) -> None:
        self.timeout = timeout
        self.commands: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, host: Endpoint, command: str) -> str:
        with self._lock:
            self.commands[host.name] += 1
        argv = ssh_argv({**host.data, "ssh_hostname": host.address}, host.name, command)
        try:
            proc = subprocess.run(argv, capture_output=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise CollectionError(f"host {host.name}: no answer within {self.timeout:.0f}s over SSH") from exc
        except OSError as exc:
            raise CollectionError(f"host {host.name}: cannot run ssh: {exc}") from exc
        stderr = proc.stderr.decode(errors="replace").strip()
        if proc.returncode == 255:
            raise CollectionError(_explain(host.name, host.address, stderr))
        if proc.returncode == 127:
            raise CollectionError(f"host {host.name}: python3 is not installed on the host ({last_lines(stderr, 300)})")
        if "future feature annotations" in stderr:
            raise CollectionError(f"host {host.name}: python3 on the host is older than 3.7, which kubeharden needs")
        if proc.returncode == 1 and "sudo" in stderr and "password" in stderr:
            raise CollectionError(
                f"host {host.name}: sudo asked for a password ({last_lines(stderr, 200)}); kubeharden runs sudo -n: "
                "give the SSH user passwordless sudo"
            )
        if proc.returncode != 0 and "KUBEHARDEN-STATE " not in proc.stdout.decode(errors="replace"):
            raise CollectionError(
                f"host {host.name}: the collector exited {proc.returncode}: {last_lines(stderr, 500) or 'no message'}"
            )
        return proc.stdout.decode(errors="replace")


def collect_host(host: Endpoint, transport: Transport, command: str | None = None) -> HostState:
    """One host's state from one run of the collector; raises CollectionError."""
    document = parse_output(host.name, transport(host, command or collector_command(host.data)))
    return host_state(host.name, host.role, host.address, document)
