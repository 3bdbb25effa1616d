"""A plan judges itself with the real judge before anyone writes it.

The planned manifest and the files the plan writes are turned into the state a host would report after the change,
and every control of the component that harden can apply is judged on it: an active control that still fails, or
any control that passed before and fails after (an extra flag that weakens it, an area left out by ``--only``), is
a problem, so such a plan never reaches a node. This is what makes planner/judge drift impossible instead of
unlikely. Pure logic.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubeharden.core.catalog import Control, for_component
from kubeharden.core.encryption import summary_doc
from kubeharden.core.judge import evaluate_control
from kubeharden.core.manifests import StaticPod
from kubeharden.core.planning.plan import ComponentPlan, PlannedFile
from kubeharden.core.profile import EXTRA_ARGS, Profile
from kubeharden.core.results import Status
from kubeharden.core.state import ComponentState, ConfigText, HostState

_RUNNING_NOTE = " is not running: judged from its manifest"


def planned_state(pod: StaticPod, files: Iterable[PlannedFile], manifest_path: str) -> HostState:
    """The state a host would report with ``pod`` as its manifest and ``files`` written."""
    state = HostState("plan", "control_plane", "")
    state.components[pod.component] = ComponentState(pod.component, manifest_path, manifest=pod)
    encryption_path = pod.get_flag("--encryption-provider-config")
    for planned in files:
        if planned.secret:
            if planned.path == encryption_path:
                state.encryption["config"] = summary_doc(planned.path, planned.content)
            continue
        state.configs[planned.path] = ConfigText(planned.path, planned.content)
    return state


def _plannable(control: Control) -> bool:
    return control.applied_by in ("tests", "planner")


def _clean(notes: str) -> str:
    return "; ".join(n for n in notes.split("; ") if n and not n.endswith(_RUNNING_NOTE))


def self_check(
    before: StaticPod, after: StaticPod, plan: ComponentPlan, profile: Profile, active: Iterable[Control]
) -> list[str]:
    """Problems of the plan as the judge sees them (empty: every active control passes, nothing got worse)."""
    active_ids = {c.id for c in active}
    extra_key = next(key for key, component in EXTRA_ARGS.items() if component == after.component)
    extra_flags = set(profile.values.get(extra_key) or {})
    before_state = planned_state(before, [], plan.manifest_path)
    after_state = planned_state(after, plan.files, plan.manifest_path)
    problems: list[str] = []
    for control in for_component(after.component):
        if not _plannable(control) or control.id in plan.deferred or profile.waived(control.id, control.area):
            continue
        status, observed, notes = evaluate_control(after_state, control, profile.values)
        if status is not Status.FAIL:
            continue
        seen = f"{observed}; {_clean(notes)}" if _clean(notes) else observed
        blamed = sorted(extra_flags & {t.flag for t in control.flag_tests})
        cause = (
            f"{extra_key} sets {', '.join(blamed)}: remove it, or waive {control.id} with a reason"
            if blamed
            else f"fix the manifest by hand or waive {control.id} with a reason"
        )
        if control.id in active_ids:
            problems.append(
                f"{after.component}: the planned manifest fails control {control.id} ({control.title}): {seen}; {cause}"
            )
        elif evaluate_control(before_state, control, profile.values)[0] is Status.PASS:
            problems.append(
                f"{after.component}: the plan would weaken control {control.id} ({control.title}), which passes "
                f"now: {seen}; {cause}"
            )
    return problems
