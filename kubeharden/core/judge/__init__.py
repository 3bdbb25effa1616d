"""Judge every applicable control of the catalog against one host's collected state, locally.

Collect once, judge many: nothing here touches a host. Each test form of the catalog has one judging function (the
DISPATCH table); each control becomes one Result with the observed value, the expected value and the remediation,
both worded for the host's profile (the profile may ask for more than the benchmark, and is then what is checked).
Compared to kube-bench: flags are read per process and combined as the binary combines them, comma lists are
compared item by item, booleans as Go parses them, modes as a bitmask, and version rules decide what a removed flag
means. The planner judges its own plans with this same code. Pure logic, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from kubeharden.core.catalog import CONTROLS, Control
from kubeharden.core.catalog.model import (
    ConfigTest,
    EncryptionTest,
    FileTest,
    FirewallTest,
    FlagTest,
    KubeletTest,
    ListenTest,
    LiveTest,
    UrlsTest,
)
from kubeharden.core.describe import expected_text, remediation_text
from kubeharden.core.judge.configs import judge_config
from kubeharden.core.judge.encryption import cross_check_encryption, expected_prefix, judge_encryption
from kubeharden.core.judge.files import judge_file
from kubeharden.core.judge.firewall import judge_firewall
from kubeharden.core.judge.flags import judge_flag, judge_listen, judge_urls
from kubeharden.core.judge.kubelet import judge_kubelet
from kubeharden.core.judge.outcome import Context, Outcome, combine
from kubeharden.core.profile import DEFAULTS, Profile
from kubeharden.core.results import LiveOutcome, Result, Status
from kubeharden.core.state import HostState

__all__ = [
    "DISPATCH",
    "applicable_controls",
    "applies",
    "cross_check_encryption",
    "evaluate_control",
    "expected_prefix",
    "judge_control",
    "judge_host",
]


def _live(ctx: Context, test: LiveTest) -> Outcome:
    if ctx.live is None:
        return Outcome(Status.SKIP, "", f"live probe {test.probe} not run (probes are off)")
    found = ctx.live.get(test.probe)
    if found is None:
        return Outcome(Status.SKIP, "", f"live probe {test.probe} has no target on this host")
    return Outcome(found.status, found.observed, found.reason)


DISPATCH: Mapping[type, Callable[[Context, Any], Outcome]] = {
    FlagTest: judge_flag,
    FileTest: judge_file,
    UrlsTest: judge_urls,
    ListenTest: judge_listen,
    ConfigTest: judge_config,
    EncryptionTest: judge_encryption,
    FirewallTest: judge_firewall,
    KubeletTest: judge_kubelet,
    LiveTest: _live,
}
"""One judging function per test form."""

_NEEDS_COMPONENT = (FlagTest, UrlsTest, ConfigTest)


def applies(control: Control, role: str) -> bool:
    """A control applies to a host when the host's role is one of the control's roles."""
    return role in control.roles


def applicable_controls(role: str, controls: Iterable[Control] = CONTROLS) -> list[Control]:
    return [c for c in controls if applies(c, role)]


def evaluate_control(
    state: HostState,
    control: Control,
    profile: Mapping[str, Any],
    live: Mapping[str, LiveOutcome] | None = None,
) -> tuple[Status, str, str]:
    """The control's tests on this host, combined, before waivers and the WARN downgrades of judge_control:
    (status, observed, notes). The planner checks its own plans with this."""
    comp = None
    if control.component is not None:
        comp = state.component(control.component)
        if comp is None:
            why = f"not applicable: {control.component} is not on this host (no manifest, no running process)"
            return Status.SKIP, "", why
        needs = any(isinstance(t, _NEEDS_COMPONENT) for t in control.tests)
        if needs and comp.process is None and comp.manifest is None:
            problem = comp.manifest_error or comp.process_error or "no flags could be read"
            return Status.WARN, "", f"cannot judge: {control.component} is not running and {problem}"
    ctx = Context(state, comp, profile, live)
    status, observed, notes = combine([DISPATCH[type(test)](ctx, test) for test in control.tests])
    if comp is not None and not comp.running and status is not Status.SKIP:
        notes = "; ".join(filter(None, [f"{comp.name} is not running: judged from its manifest", notes]))
    return status, observed, notes


def judge_control(
    state: HostState,
    control: Control,
    profile: Profile | None = None,
    live: Mapping[str, LiveOutcome] | None = None,
) -> Result:
    """One control on one host. Waived -> SKIP with the reason; an unscored FAIL, or a FAIL of a control the profile
    does not ask for (``when``), is reported as WARN."""
    chosen = profile if profile is not None else Profile(DEFAULTS)
    values = chosen.values

    def result(status: Status, observed: str, reason: str = "", waived: bool = False) -> Result:
        return Result(
            control.id,
            state.host,
            status,
            control.title,
            observed,
            expected_text(control, values),
            remediation_text(control, values),
            reason,
            control.area,
            control.scored,
            waived,
        )

    waiver = chosen.waived(control.id, control.area)
    if waiver:
        return result(Status.SKIP, "", f"waived: {waiver}", waived=True)
    status, observed, notes = evaluate_control(state, control, values, live)
    if status is Status.FAIL and control.when is not None and not control.when.holds(values):
        why = f"the profile does not ask for it ({control.when.describe()})"
        status, notes = Status.WARN, "; ".join(filter(None, [why, control.rationale, notes]))
    if status is Status.FAIL and not control.scored:
        status, notes = Status.WARN, "; ".join(filter(None, ["unscored control: a failure is reported as WARN", notes]))
    return result(status, observed, notes)


def judge_host(
    state: HostState,
    profile: Profile | None = None,
    live: Mapping[str, LiveOutcome] | None = None,
    controls: Iterable[Control] = CONTROLS,
) -> list[Result]:
    """Every control that applies to the host's role, in catalog order."""
    return [judge_control(state, c, profile, live) for c in applicable_controls(state.role, controls)]
