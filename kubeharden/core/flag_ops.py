"""What each flag-test operation means: how it is judged, how it is repaired, how it reads in a report.

The judge (kubeharden.core.judge) and the planner (kubeharden.core.planning) both call ``evaluate``; the planner
then calls ``repair`` for a test that fails, so harden writes exactly what verify will accept. Values follow
kubeharden.core.values (Go booleans, comma lists, feature-gate maps, TLS order). Pure logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeharden.core import values
from kubeharden.core.catalog.model import Op, Write

REMOVE = object()
"""``repair`` result: remove the flag."""


@dataclass(frozen=True)
class Verdict:
    ok: bool
    note: str = ""


def _listed(wanted: str | tuple[str, ...] | None) -> list[str]:
    if wanted is None:
        return []
    if isinstance(wanted, tuple):
        return [w for w in wanted if w]
    return values.items(wanted)


def _one(wanted: str | tuple[str, ...] | None) -> str:
    listed = _listed(wanted)
    return listed[0] if listed else ""


def _eq(effective: str, wanted: list[str], component: str) -> Verdict:
    return Verdict(bool(wanted) and values.same(effective, wanted[0]))


def _noteq(effective: str, wanted: list[str], component: str) -> Verdict:
    return Verdict(not (wanted and values.same(effective, wanted[0])))


def _has(effective: str, wanted: list[str], component: str) -> Verdict:
    missing = [w for w in wanted if not values.has_item(effective, w)]
    return Verdict(not missing, "missing: " + ", ".join(missing) if missing else "")


def _nothave(effective: str, wanted: list[str], component: str) -> Verdict:
    return Verdict(not any(values.has_item(effective, w) for w in wanted))


def _gte(effective: str, wanted: list[str], component: str) -> Verdict:
    number, floor = values.whole_number(effective), values.whole_number(wanted[0] if wanted else None)
    if number is None or floor is None:
        return Verdict(False, f"{effective!r} is not a whole number")
    return Verdict(number >= floor)


def _subset(effective: str, wanted: list[str], component: str) -> Verdict:
    extra = [item for item in values.items(effective) if item not in set(wanted)]
    if extra or not values.items(effective):
        return Verdict(False, "not allowed: " + (", ".join(extra) or "(empty list)"))
    return Verdict(True)


def _in(effective: str, wanted: list[str], component: str) -> Verdict:
    return Verdict(effective.strip() in wanted)


def _tls_min(effective: str, wanted: list[str], component: str) -> Verdict:
    rank, floor = values.tls_rank(effective), values.tls_rank(wanted[0] if wanted else None)
    if rank is None:
        return Verdict(False, f"{effective!r} is not a TLS version")
    if component and not values.same_tls_family(component, effective):
        return Verdict(False, f"{effective!r} is not how {component} spells TLS versions")
    return Verdict(floor is not None and rank >= floor)


def _gate_on(effective: str, wanted: list[str], component: str) -> Verdict:
    return Verdict(not values.gate_disabled(effective, wanted[0] if wanted else ""))


_JUDGE = {
    Op.EQ: _eq,
    Op.NOTEQ: _noteq,
    Op.HAS: _has,
    Op.NOTHAVE: _nothave,
    Op.GTE: _gte,
    Op.SUBSET: _subset,
    Op.IN: _in,
    Op.TLS_MIN: _tls_min,
    Op.GATE_ON: _gate_on,
}
"""How each operation judges a flag's effective value (SET and UNSET look at the raw value instead)."""


def evaluate(
    op: Op, raw: str | None, unset: str | None, wanted: str | tuple[str, ...] | None, component: str = ""
) -> Verdict:
    """Judge a flag's value: ``raw`` as set (None: absent), ``unset`` the binary's default when absent."""
    if op is Op.SET:
        return Verdict(raw not in (None, ""))
    if op is Op.UNSET:
        return Verdict(raw in (None, ""))
    effective = raw if raw is not None else unset
    if effective is None:
        return Verdict(op in (Op.NOTEQ, Op.NOTHAVE, Op.GATE_ON))
    return _JUDGE[op](effective, _listed(wanted), component)


def _with_items(current: str | None, wanted: list[str], insert: str) -> str:
    listed = values.items(current)
    for item in wanted:
        if values.has_item(",".join(listed), item):
            continue
        if insert == "first":
            listed.insert(0, item)
        elif insert.startswith("after:") and insert[6:] in listed:
            listed.insert(listed.index(insert[6:]) + 1, item)
        else:
            listed.append(item)
    return values.join(listed)


def repair(
    op: Op,
    raw: str | None,
    wanted: str | tuple[str, ...] | None,
    *,
    component: str,
    default: str | None = None,
    insert: str = "end",
    write: Write = "needed",
) -> str | object | None:
    """The value that makes a failing test pass: a string to write, REMOVE, or None when no value can be chosen
    (SET without a default, NOTEQ): the plan then reports the control instead of guessing."""
    if write == "remove" or op is Op.UNSET:
        return REMOVE
    if op is Op.SET:
        return default
    if op is Op.EQ or op is Op.IN:
        return _one(wanted) or None
    if op is Op.HAS:
        return _with_items(raw, _listed(wanted), insert)
    if op is Op.NOTHAVE:
        kept = [i for i in values.items(raw) if not any(values.item_matches(i, w) for w in _listed(wanted))]
        return values.join(kept) if kept else REMOVE
    if op is Op.GTE:
        return _one(wanted) or None
    if op is Op.SUBSET:
        return values.join(_listed(wanted)) or None
    if op is Op.TLS_MIN:
        return values.tls_spelling(component, _one(wanted))
    if op is Op.GATE_ON:
        kept_gates = values.without_gate(raw, _one(wanted))
        return kept_gates or REMOVE
    return None


def explicit_value(op: Op, wanted: str | tuple[str, ...] | None) -> str | None:
    """For ``write="always"``: the value to write even though absence already passes."""
    if op in (Op.EQ, Op.IN):
        return _one(wanted) or None
    return None


def describe(op: Op, wanted: str | tuple[str, ...] | None, unset: str | None = None) -> str:
    """The expected value in words, as reports and docs show it."""
    shown = ", ".join(_listed(wanted)) if isinstance(wanted, tuple) else (wanted or "")
    if op is Op.EQ:
        return f"unset or {shown}" if unset is not None and values.same(unset, shown) else shown
    return {
        Op.NOTEQ: f"not {shown}",
        Op.SET: "set",
        Op.UNSET: "not set",
        Op.HAS: f"has {shown}",
        Op.NOTHAVE: f"no {shown}",
        Op.GTE: f">= {shown}",
        Op.SUBSET: f"a subset of: {values.join(_listed(wanted))}",
        Op.IN: " or ".join(_listed(wanted)) + (" (or unset)" if unset in _listed(wanted) else ""),
        Op.TLS_MIN: f"TLS {shown} or higher",
        Op.GATE_ON: f"{shown} not false",
    }[op]


def how_to_fix(flag: str, op: Op, wanted: str | tuple[str, ...] | None, component: str, write: Write) -> str:
    """A remediation sentence for one flag test."""
    one, shown = _one(wanted), ", ".join(_listed(wanted))
    if write == "remove" or op is Op.UNSET:
        return f"remove {flag}"
    if op in (Op.EQ, Op.IN, Op.GTE):
        return f"set {flag}={one}"
    if op is Op.TLS_MIN:
        return f"set {flag}={values.tls_spelling(component, one)}" if one in values.TLS_VERSIONS else f"raise {flag}"
    if op is Op.SUBSET:
        return f"set {flag}={values.join(_listed(wanted))}"
    if op is Op.GATE_ON:
        return f"remove {one}=false from {flag}"
    return {
        Op.NOTEQ: f"set {flag} to anything but {one}",
        Op.SET: f"set {flag}",
        Op.HAS: f"add {shown} to {flag}",
        Op.NOTHAVE: f"remove {shown} from {flag}",
    }[op]
