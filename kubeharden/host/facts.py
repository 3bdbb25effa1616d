"""The pyinfra side of the one on-host collector (kubeharden/host/onhost/collector.py) for Linux kubeadm nodes.

``HostCollection`` is a pyinfra fact for deploys of your own (``host.get_fact(HostCollection, spec=verify_spec())``);
``collect`` is what kubeharden's own runs use: the same program and parser, run through the adapter with nothing
printed at any verbosity, because harden's spec reads the EncryptionConfiguration back with its keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pyinfra.api.facts import FactBase

from kubeharden.core.collection import verify_spec
from kubeharden.core.host_doc import CollectSpec, HostDocument
from kubeharden.core.state import CollectionError, parse_output
from kubeharden.host import pyinfra_adapter
from kubeharden.host.invoke import program_command
from kubeharden.host.transport import last_lines


class HostCollection(FactBase[HostDocument]):
    """One read-only pass over the host's Kubernetes state (kubeharden/core/host_doc.py declares the document).

    .. code:: python

        {"components": {"kube-apiserver": {"manifest": "<text>", "processes": [{"pid": 1, "argv": [...]}]}},
         "files": {"/etc/kubernetes/admin.conf": {"exists": True, "mode": "600", "user": "root", ...}},
         "globs": {...}, "configs": {...}, "encryption": {...}, "firewall": {...}, "listeners": [...]}

    A spec with ``secret_read`` is refused here: pyinfra prints fact output at -vvv.
    """

    def requires_command(self, spec: CollectSpec | None = None) -> str:
        return "python3"

    def command(self, spec: CollectSpec | None = None) -> str:
        chosen = spec if spec is not None else verify_spec()
        if chosen.get("secret_read"):
            raise ValueError("HostCollection never reads secrets (pyinfra may print fact output): use collect()")
        return program_command("collector", dict(chosen))

    def process(self, output: Iterable[str]) -> HostDocument:
        return parse_output("this host", "\n".join(output))

    @staticmethod
    def default() -> HostDocument:
        return {}


def collect(state: Any, host: Any, spec: CollectSpec) -> HostDocument:
    """Run the collector on ``host`` with its privilege, nothing printed; raises CollectionError with the reason."""
    ok, stdout, stderr = pyinfra_adapter.run_program(state, host, "collector", dict(spec))
    if not ok and not any(line.startswith("KUBEHARDEN-STATE ") for line in stdout):
        message = last_lines("\n".join(stderr), 500) or "no message"
        if "sudo" in message and ("password" in message or "not allowed" in message):
            message += " (the collector needs root: give the SSH user passwordless sudo and set _sudo=True)"
        raise CollectionError(f"host {host.name}: the collector failed: {message}")
    return parse_output(host.name, "\n".join(stdout))
