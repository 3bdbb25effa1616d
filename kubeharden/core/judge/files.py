"""File tests: mode as a bitmask maximum ("600 or stricter", as kube-bench judges) and owner, for a fixed path,
the path a flag names (through the component's own view of the filesystem), or every file a glob matches."""

from __future__ import annotations

from kubeharden.core import values
from kubeharden.core.catalog.model import FileTest
from kubeharden.core.judge.outcome import Context, Outcome
from kubeharden.core.results import Status
from kubeharden.core.state import FileStat, HostState


def _ok(found: FileStat, test: FileTest) -> bool:
    return found.mode is not None and values.mode_within(found.mode, test.mode) and found.owner == test.owner


def flag_path(state: HostState, test: FileTest) -> tuple[str | None, Outcome | None]:
    """The path a flag-named file test points at, or the outcome that says why there is none."""
    if not (test.flag is not None):
        raise AssertionError("invariant: test.flag is not None")  # an invariant, kept under python -O
    component, flag = test.flag
    comp = state.component(component)
    if comp is None:
        return None, Outcome(Status.SKIP, "", f"{component} is not on this host")
    value = comp.flag(flag).value
    if not value:
        return None, Outcome(Status.WARN, f"{component} {flag} not set", "cannot tell which path to check")
    return value, None


def judge_file(ctx: Context, test: FileTest) -> Outcome:
    state = ctx.state
    wanted = f"mode {test.mode:o} or stricter, {test.owner}"
    if test.glob:
        if test.glob not in state.globs:
            return Outcome(Status.WARN, "", f"{test.glob} was not collected")
        paths = state.globs[test.glob]
        if not paths:
            return Outcome(Status.SKIP, f"no file matches {test.glob}", "nothing to check on this host")
        stats = [state.files.get(p, FileStat(p, False, error="not collected")) for p in paths]
        bad = [s for s in stats if not _ok(s, test)]
        if bad:
            listed = ", ".join(s.describe() for s in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            return Outcome(Status.FAIL, f"{len(bad)} of {len(stats)} not {wanted}: {listed}")
        return Outcome(Status.PASS, f"all {len(stats)} files matching {test.glob} are {wanted}")
    path = test.path
    if test.flag:
        path, why = flag_path(state, test)
        if why is not None:
            return why
    if not (path is not None):
        raise AssertionError("invariant: path is not None")  # an invariant, kept under python -O
    found = state.files.get(path)
    if found is None:
        return Outcome(Status.WARN, path, f"{path} was not collected")
    if not found.exists:
        if found.error:
            return Outcome(Status.WARN, found.describe(), f"{path} could not be examined: {found.error}")
        if test.flag:
            return Outcome(Status.WARN, found.describe(), "the path the flag names does not exist")
        return Outcome(Status.SKIP, found.describe(), "nothing to protect on this host")
    if found.mode is None:
        return Outcome(Status.WARN, found.describe(), "its mode could not be read")
    observed = f"{path} mode {found.mode:o}, {found.owner}"
    return Outcome(Status.PASS if _ok(found, test) else Status.FAIL, observed)
