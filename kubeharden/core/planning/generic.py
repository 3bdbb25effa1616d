"""The generic fix: make one flag test of the catalog pass, using the same evaluation the judge uses.

A test that already passes is left as it is (a stricter value stays: ``--audit-log-maxage=90`` when the floor is
30); a failing one gets the value ``flag_ops.repair`` chooses for its operation; a flag this version of the
component does not accept is removed (it would stop the component). Pure logic.
"""

from __future__ import annotations

import posixpath

from kubeharden.core import flag_ops, values, versions
from kubeharden.core.catalog.model import Control, FlagTest, Op, resolve
from kubeharden.core.planning.editor import PodEditor


def _note_unless(ed: PodEditor, control: Control, test: FlagTest) -> bool:
    if test.unless_flag and ed.pod.has_flag(test.unless_flag):
        ed.note(
            f"{control.id}: {test.flag} is left as it is because {test.unless_flag} is set and decides instead: "
            f"make sure it meets the control ({control.title})"
        )
        return True
    return False


def _version_gap(ed: PodEditor, control: Control, test: FlagTest, raw: str | None, wanted: object) -> bool:
    """True (handled) when this version of the component does not accept the flag."""
    if versions.flag_allowed(ed.component, ed.version, test.flag):
        return False
    at = f"{ed.component} {versions.format_version(ed.version)}"
    if raw is not None:
        ed.remove(control.id, test.flag, f"{at} has no such flag")
    elif not flag_ops.evaluate(test.op, None, test.unset, wanted, ed.component).ok:  # type: ignore[arg-type]
        ed.note(f"{control.id}: {at} has no {test.flag}; it is left out, since an unknown flag stops {ed.component}")
    return True


def _leave_conflicts(ed: PodEditor, control: Control, test: FlagTest, wanted: str | tuple[str, ...]) -> None:
    """An item a HAS test adds must leave the list it conflicts with (enabled and disabled at once fails)."""
    if not test.conflicts:
        return
    listed = [wanted] if isinstance(wanted, str) else list(wanted)
    current = values.items(ed.pod.get_flag(test.conflicts))
    kept = [item for item in current if item not in listed]
    if len(kept) == len(current):
        return
    if kept:
        ed.set(control.id, test.conflicts, values.join(kept))
    else:
        ed.remove(control.id, test.conflicts, f"{', '.join(listed)} must stay enabled")


def apply_flag_test(ed: PodEditor, control: Control, test: FlagTest) -> None:
    """Make ``test`` pass on the editor's pod, tagging every change with ``control``."""
    if not test.fix or _note_unless(ed, control, test):
        return
    wanted = resolve(test.value, ed.values)
    if wanted is None and test.value is not None:
        return  # the profile does not ask for a value: kubeadm's stays
    raw = ed.pod.get_flag(test.flag)
    if test.note_if_flag and ed.pod.has_flag(test.note_if_flag[0]):
        ed.note(test.note_if_flag[1])
    if _version_gap(ed, control, test, raw, wanted):
        return
    carry = test.volume is None
    verdict = flag_ops.evaluate(test.op, raw, test.unset, wanted, ed.component)
    if verdict.ok:
        explicit = flag_ops.explicit_value(test.op, wanted) if test.write == "always" and raw is None else None
        if explicit is not None:
            ed.set(control.id, test.flag, explicit)
        elif raw is not None and carry and test.op is not Op.UNSET:
            ed.setting(control.id, test.flag, raw)
    else:
        default = resolve(test.default, ed.values)
        default_text = ed.placeholders(default) if isinstance(default, str) else None
        fixed = flag_ops.repair(
            test.op,
            raw,
            wanted,
            component=ed.component,
            default=default_text,
            insert=test.insert,
            write=test.write,
        )
        if fixed is flag_ops.REMOVE:
            ed.remove(control.id, test.flag, control.rationale.split(";")[0] if control.rationale else "")
        elif isinstance(fixed, str):
            ed.set(control.id, test.flag, fixed, carry=carry)
            if test.volume and default_text:
                ed.ensure_visible(control.id, posixpath.dirname(default_text), test.volume, kind="pki")
        else:
            ed.problem(
                f"{ed.component}: control {control.id} ({control.title}) fails and kubeharden cannot choose a value "
                f"for {test.flag}: fix it by hand, or waive {control.id} with a reason"
            )
            return
    if test.op is Op.HAS and wanted is not None:
        _leave_conflicts(ed, control, test, wanted)
    if test.must_exist:
        value = ed.pod.get_flag(test.flag)
        if value:
            ed.require(value)
