"""The outcome of a verification run: one Result per host and control, with what was seen, what was expected and
how to fix it; per-host collection facts; the run's exit code. Pure data, read by every report format."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """PASS and FAIL for scored controls; WARN for unscored ones or checks that could not decide; SKIP for
    waived or not applicable controls (always with a reason)."""

    PASS = "PASS"  # noqa: S105 -- a verdict, not a password
    FAIL = "FAIL"
    WARN = "WARN"
    SKIP = "SKIP"


EXIT_OK, EXIT_FAILED, EXIT_UNCHECKED = 0, 1, 2


@dataclass(frozen=True)
class LiveOutcome:
    """What a live probe from the checking machine saw."""

    status: Status
    observed: str
    reason: str = ""


@dataclass(frozen=True)
class Result:
    """One control judged on one host."""

    control_id: str
    host: str
    status: Status
    title: str
    observed: str
    expected: str
    remediation: str
    reason: str = ""
    area: str = ""
    scored: bool = True
    waived: bool = False

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


@dataclass
class HostRun:
    """One host's part of a run: its results, or why it could not be checked."""

    name: str
    role: str
    address: str
    results: list[Result] = field(default_factory=list)
    error: str | None = None
    remote_commands: int = 0
    collect_seconds: float = 0.0
    probe_seconds: float = 0.0
    components: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    encryption_sha256: str | None = None
    """sha256 of the host's EncryptionConfiguration (compared across control planes, KH-ENC-SAME)."""
    kubelet_probes: dict[str, Any] = field(default_factory=dict, repr=False)
    """A control plane's anonymous probes of every node's kubelet (address -> what it saw), for KH-KUBELET-live."""


@dataclass
class RunReport:
    """A whole run over an inventory."""

    inventory: str
    hosts: list[HostRun]
    seconds: float = 0.0
    probes: bool = True

    @property
    def results(self) -> list[Result]:
        return [r for h in self.hosts for r in h.results]

    def counts(self) -> dict[str, int]:
        counted = Counter(str(r.status) for r in self.results)
        return {str(s): counted.get(str(s), 0) for s in Status}

    @property
    def waivers(self) -> list[Result]:
        return [r for r in self.results if r.waived]

    @property
    def unchecked(self) -> list[HostRun]:
        return [h for h in self.hosts if h.error is not None]

    @property
    def exit_code(self) -> int:
        """0 nothing failed, 1 a control failed, 2 something could not be checked (that wins: the run is
        incomplete)."""
        if self.unchecked:
            return EXIT_UNCHECKED
        if any(r.status is Status.FAIL for r in self.results):
            return EXIT_FAILED
        return EXIT_OK
