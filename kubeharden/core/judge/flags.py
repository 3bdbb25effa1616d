"""Flag tests, https URLs and listeners: judged from a component's effective flags (its running process wins over
its manifest; etcd also reads ETCD_* variables), with the version rules deciding what a removed flag means."""

from __future__ import annotations

from kubeharden.core import flag_ops, values, versions
from kubeharden.core.catalog.model import FlagTest, ListenTest, UrlsTest, resolve
from kubeharden.core.judge.outcome import Context, Outcome
from kubeharden.core.results import Status
from kubeharden.core.state import ComponentState

ETCD_URL_DEFAULTS = {
    "--listen-client-urls": "http://localhost:2379",
    "--listen-peer-urls": "http://localhost:2380",
    "--advertise-client-urls": "http://localhost:2379",
}
"""etcd's built-in values when the flag is absent (all plain http)."""


def shown(flag: str, value: str | None, where: str, unset: str | None) -> str:
    origin = "" if where == "running process" else f" ({where})"
    if value is None:
        default = f" (default {unset})" if unset not in (None, "") else ""
        return f"{flag} not set{default}{origin}"
    return f"{flag}={value}{origin}"


def judge_flag_value(comp: ComponentState, test: FlagTest, wanted: str | tuple[str, ...] | None) -> Outcome:
    """One flag test on one component, ``wanted`` already resolved against the profile."""
    found = comp.flag(test.flag)
    value = found.value
    seen = shown(test.flag, value, found.where, test.unset)
    version = comp.version
    if version is not None and not versions.flag_allowed(comp.name, version, test.flag):
        at = versions.format_version(version)
        if value is not None:
            return Outcome(Status.FAIL, seen, f"{comp.name} {at} no longer accepts {test.flag}: remove it")
        if flag_ops.evaluate(test.op, None, test.unset, wanted, comp.name).ok:
            return Outcome(Status.PASS, f"{test.flag} not set (the flag does not exist in {comp.name} {at})")
        return Outcome(Status.SKIP, "", f"not applicable: {comp.name} {at} has no {test.flag}")
    verdict = flag_ops.evaluate(test.op, value, test.unset, wanted, comp.name)
    return Outcome(Status.PASS if verdict.ok else Status.FAIL, seen, verdict.note)


def judge_flag(ctx: Context, test: FlagTest) -> Outcome:
    comp = ctx.comp
    if not (comp is not None):
        raise AssertionError("invariant: comp is not None")  # an invariant, kept under python -O
    if test.unless_flag:
        other = comp.flag(test.unless_flag).value
        if other is not None:
            return Outcome(
                Status.WARN,
                f"{test.unless_flag}={other}",
                f"{test.flag} does not decide while {test.unless_flag} is set: check that file by hand",
            )
    wanted = resolve(test.value, ctx.profile)
    if wanted is None and test.value is not None:
        found = comp.flag(test.flag)
        return Outcome(
            Status.PASS, shown(test.flag, found.value, found.where, test.unset) + " (kept as kubeadm set it)"
        )
    return judge_flag_value(comp, test, wanted)


def judge_urls(ctx: Context, test: UrlsTest) -> Outcome:
    comp = ctx.comp
    if not (comp is not None):
        raise AssertionError("invariant: comp is not None")  # an invariant, kept under python -O
    seen: list[str] = []
    plain: list[str] = []
    for flag in test.flags:
        found = comp.flag(flag)
        value = found.value if found.value is not None else ETCD_URL_DEFAULTS.get(flag)
        seen.append(shown(flag, found.value, found.where, ETCD_URL_DEFAULTS.get(flag)))
        plain.extend(f"{flag}: {url}" for url in values.items(value) if not url.startswith("https://"))
    if plain:
        return Outcome(Status.FAIL, "; ".join(seen), "not https: " + ", ".join(plain))
    return Outcome(Status.PASS, "; ".join(seen))


def judge_listen(ctx: Context, test: ListenTest) -> Outcome:
    """Nothing may listen on the port (or the port the flag names)."""
    state = ctx.state
    ports = {test.port}
    if test.flag and ctx.comp is not None:
        port = values.whole_number(ctx.comp.flag(test.flag).value)
        if port:
            ports.add(port)
    if not state.listeners_source:
        return Outcome(Status.WARN, "", "the host's TCP listeners were not collected")
    found = [where for p in sorted(ports) for where in state.listening_on(p)]
    if found:
        return Outcome(Status.FAIL, "listening on " + ", ".join(found))
    return Outcome(Status.PASS, f"nothing listens on {', '.join(map(str, sorted(ports)))}")
