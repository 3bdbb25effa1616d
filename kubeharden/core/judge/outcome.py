"""What one test of a control found on one host, and how a control's tests combine into one status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeharden.core.results import LiveOutcome, Status
from kubeharden.core.state import ComponentState, HostState


@dataclass(frozen=True)
class Outcome:
    status: Status
    observed: str
    note: str = ""


@dataclass(frozen=True)
class Context:
    """What a test is judged against: the host's state, the control's component there, the profile's values
    (defaults overlaid by the host's data) and the live probes' outcomes (None: probes were not run)."""

    state: HostState
    comp: ComponentState | None
    profile: Mapping[str, Any]
    live: Mapping[str, LiveOutcome] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def combine(outcomes: list[Outcome]) -> tuple[Status, str, str]:
    """FAIL wins, then WARN; all SKIP is SKIP; else PASS. Observed values and notes are joined."""
    statuses = {o.status for o in outcomes}
    if Status.FAIL in statuses:
        status = Status.FAIL
    elif Status.WARN in statuses:
        status = Status.WARN
    elif statuses == {Status.SKIP} or not statuses:
        status = Status.SKIP
    else:
        status = Status.PASS
    observed = "; ".join(dict.fromkeys(o.observed for o in outcomes if o.observed))
    notes = "; ".join(dict.fromkeys(o.note for o in outcomes if o.note))
    return status, observed, notes
