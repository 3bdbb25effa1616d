"""How kubeharden's on-host programs are sent: ONE way, every time.

A program (kubeharden/host/onhost/*.py, stdlib only, Python 3.7+) travels inside the command line: its source
zlib-compressed and base64-encoded into ``python3 -c``, its argument as base64 JSON in argv[1]. No file is uploaded
and nothing is read from stdin, so the same command works as a pyinfra fact, a pyinfra callback and a plain
``ssh HOST COMMAND`` (with ``sudo -n`` in front when the inventory asks for it), and nothing needs quoting: base64
has no character a shell treats specially. Arguments never carry a secret.
"""

from __future__ import annotations

import base64
import json
import shlex
import zlib
from collections.abc import Mapping
from functools import cache
from importlib import resources
from typing import Any

PROGRAMS: Mapping[str, tuple[str, ...]] = {
    "collector": ("collector_encryption.py", "collector.py"),
    "apply_manifest": ("apply_manifest.py",),
    "apply_kubelet": ("apply_manifest.py", "apply_kubelet.py"),
}
"""Program name -> its source files, joined in this order (later files may use names the earlier ones define)."""

_FUTURE = "from __future__ import annotations"


@cache
def program_source(name: str) -> str:
    """The program's full source: its files joined, with the one ``from __future__`` import first."""
    parts = []
    for filename in PROGRAMS[name]:
        text = resources.files("kubeharden.host.onhost").joinpath(filename).read_text()
        parts.append("\n".join(line for line in text.splitlines() if line.strip() != _FUTURE))
    return _FUTURE + "\n" + "\n\n".join(parts) + "\n"


@cache
def _payload(name: str) -> str:
    return base64.b64encode(zlib.compress(program_source(name).encode(), 9)).decode()


def encode_argument(argument: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(argument, sort_keys=True).encode()).decode()


def program_command(name: str, argument: Mapping[str, Any]) -> str:
    """The shell command that runs program ``name`` with ``argument`` on a host (its own python3)."""
    loader = f"import base64,sys,zlib;sys.argv[0]={name!r};exec(zlib.decompress(base64.b64decode({_payload(name)!r})))"
    return f'python3 -c "{loader}" {encode_argument(argument)}'


def with_privilege(command: str, data: Mapping[str, Any]) -> str:
    """The command through ``sudo -n`` (never a password prompt) when the host's data asks for pyinfra's
    ``_sudo``; ``_sudo_user`` is honoured as pyinfra does."""
    if not data.get("_sudo"):
        return command
    user = data.get("_sudo_user")
    prefix = "sudo -n -H" + (f" -u {shlex.quote(str(user))}" if user else "")
    return f"{prefix} sh -c {shlex.quote(command)}"
