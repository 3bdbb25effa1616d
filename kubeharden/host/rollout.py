"""The rollout of one run: shared by its operations, handed to them explicitly (never a module global).

The first control-plane failure stops the rollout: every later operation that would touch a host checks it and
leaves that host untouched. Per-host results (each component's restart, the firewall's confirmation) and the
count of rewritten objects go into the run's summary.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Rollout:
    failed_host: str | None = None
    error: str | None = None
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rewritten: dict[str, int] = field(default_factory=dict)
    """Resources rewritten so they are stored encrypted: {"secrets": 12}."""
    touched: set[str] = field(default_factory=set)
    """Hosts an operation changed something on (a failure on an untouched host restored nothing)."""

    def stopped_for(self, host_name: str) -> bool:
        """Whether an earlier host failed, so ``host_name`` must be left untouched."""
        return self.failed_host is not None and self.failed_host != host_name

    def fail(self, host_name: str, error: str, result: dict[str, Any] | None = None) -> None:
        self.failed_host, self.error = host_name, error
        if result is not None:
            self.results.setdefault(host_name, []).append(result)

    def record(self, host_name: str, result: dict[str, Any]) -> None:
        self.results.setdefault(host_name, []).append(result)
