"""Judge every applicable control of the catalog against one host's collected state, locally.

Collect once, judge many: nothing here touches a host. Each control's tests (catalog.py documents their forms)
become one Result with the observed value, the expected value and the remediation. Compared to kube-bench: flags
are read per process and combined as the binary combines them, comma lists are compared item by item (not by
substring), booleans the way Go parses them, file modes as a bitmask ("600 or stricter"), and version rules
decide what a removed flag or anonymous access must look like. Pure logic, no I/O.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from kubeharden import versions
from kubeharden.catalog import APISERVER, CONTROLS, Control
from kubeharden.profile import DEFAULTS, PSA_LEVELS, Profile
from kubeharden.verify.results import LiveOutcome, Result, Status
from kubeharden.verify.state import ComponentState, FileStat, HostState

_TRUE = {"1", "t", "true"}
_FALSE = {"0", "f", "false"}
INSECURE_PORT = 8080
ETCD_URL_DEFAULTS: Mapping[str, str] = {
    "--listen-client-urls": "http://localhost:2379",
    "--listen-peer-urls": "http://localhost:2380",
    "--advertise-client-urls": "http://localhost:2379",
}
"""etcd's built-in values when the flag is absent (all plain http)."""


@dataclass(frozen=True)
class _Outcome:
    status: Status
    observed: str
    note: str = ""


def applies(control: Control, role: str) -> bool:
    """A control applies to a host when the host's role is one of the control's roles."""
    return role in control.roles


# ----------------------------------------------------------------------------------------------------
# Values
# ----------------------------------------------------------------------------------------------------


def _bool(value: str) -> bool | None:
    """Go's strconv.ParseBool, which pflag uses: 1/t/true and 0/f/false in any case."""
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def _same(left: str, right: str) -> bool:
    a, b = _bool(left), _bool(right)
    if a is not None and b is not None:
        return a == b
    return left.strip() == right.strip()


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _item_matches(item: str, wanted: str) -> bool:
    """`Name` matches `Name`; `Gate=false` matches `Gate=False` (feature-gate maps hold booleans)."""
    if "=" in wanted and "=" in item:
        key, _, value = item.partition("=")
        wanted_key, _, wanted_value = wanted.partition("=")
        return key.strip() == wanted_key.strip() and _same(value, wanted_value)
    return item == wanted


def _mode_ok(actual: int, maximum: int) -> bool:
    """kube-bench's bitmask: `actual` is `maximum` or stricter when it sets no bit `maximum` does not."""
    return actual & ~maximum == 0


# ----------------------------------------------------------------------------------------------------
# Flag tests
# ----------------------------------------------------------------------------------------------------


def _shown(flag: str, value: str | None, where: str, unset: str | None) -> str:
    origin = "" if where == "running process" else f" ({where})"
    if value is None:
        default = f" (default {unset})" if unset not in (None, "") else ""
        return f"{flag} not set{default}{origin}"
    return f"{flag}={value}{origin}"


def _flag_test(comp: ComponentState, test: Mapping[str, Any]) -> _Outcome:
    flag, op = str(test["flag"]), str(test["op"])
    wanted = str(test.get("value", ""))
    unset = test.get("unset")
    found = comp.flag(flag)
    value = found.value
    shown = _shown(flag, value, found.where, unset)
    version = comp.version
    if version is not None and not versions.flag_allowed(comp.name, version, flag):
        at = versions.format_version(version)
        if value is not None:
            return _Outcome(Status.FAIL, shown, f"{comp.name} {at} no longer accepts {flag}: remove it")
        return _Outcome(Status.PASS, f"{flag} not set (the flag no longer exists in {comp.name} {at})")
    effective = value if value is not None else (str(unset) if unset is not None else None)
    ok: bool
    if op == "set":
        ok = value not in (None, "")
    elif op == "unset":
        ok = value in (None, "")
    elif effective is None:
        ok = op in ("noteq", "nothave")
    elif op == "eq":
        ok = _same(effective, wanted)
    elif op == "noteq":
        ok = not _same(effective, wanted)
    elif op == "has":
        ok = any(_item_matches(item, wanted) for item in _items(effective))
    elif op == "nothave":
        ok = not any(_item_matches(item, wanted) for item in _items(effective))
    elif op == "gte":
        try:
            ok = int(effective) >= int(wanted)
        except ValueError:
            return _Outcome(Status.FAIL, shown, f"{effective!r} is not a whole number")
    elif op == "subset":
        allowed = set(_items(wanted))
        extra = [item for item in _items(effective) if item not in allowed]
        if extra or not _items(effective):
            return _Outcome(Status.FAIL, shown, "not allowed: " + (", ".join(extra) or "(empty list)"))
        ok = True
    elif op == "in":
        ok = effective.strip() in _items(wanted)
    else:
        return _Outcome(Status.WARN, shown, f"unknown test operation {op!r} in the catalog")
    return _Outcome(Status.PASS if ok else Status.FAIL, shown)


def _insecure_listeners(state: HostState, comp: ComponentState) -> _Outcome:
    """Nothing may listen on the insecure port (8080, or what --insecure-port names)."""
    ports = {INSECURE_PORT}
    port = comp.flag("--insecure-port").value
    if port and port.isdigit() and int(port) > 0:
        ports.add(int(port))
    if not state.listeners_source:
        return _Outcome(Status.WARN, "", "the host's TCP listeners were not collected")
    found = [where for p in sorted(ports) for where in state.listening_on(p)]
    if found:
        return _Outcome(Status.FAIL, "listening on " + ", ".join(found))
    return _Outcome(Status.PASS, f"nothing listens on {', '.join(map(str, sorted(ports)))}")


def _urls_test(comp: ComponentState, flags: Iterable[str]) -> _Outcome:
    seen: list[str] = []
    plain: list[str] = []
    for flag in flags:
        found = comp.flag(flag)
        value = found.value if found.value is not None else ETCD_URL_DEFAULTS.get(flag)
        seen.append(_shown(flag, found.value, found.where, ETCD_URL_DEFAULTS.get(flag)))
        plain.extend(f"{flag}: {url}" for url in _items(value or "") if not url.startswith("https://"))
    if plain:
        return _Outcome(Status.FAIL, "; ".join(seen), "not https: " + ", ".join(plain))
    return _Outcome(Status.PASS, "; ".join(seen))


# ----------------------------------------------------------------------------------------------------
# Config-file tests (AuthenticationConfiguration, AdmissionConfiguration)
# ----------------------------------------------------------------------------------------------------


def _load_config(state: HostState, path: str) -> tuple[Any, str | None]:
    found = state.configs.get(path)
    if found is None:
        return None, f"{path} was not collected"
    if found.missing:
        return None, f"{path} does not exist (the component cannot start with it)"
    if found.text is None:
        return None, f"{path} could not be read: {found.error}"
    try:
        return yaml.safe_load(found.text), None
    except yaml.YAMLError as exc:
        return None, f"{path} is not valid YAML: {exc}"


def _anonymous_test(state: HostState, comp: ComponentState) -> _Outcome:
    """CIS 1.2.1 as kubeharden means it: anonymous requests reach only the health endpoints."""
    anon = comp.flag("--anonymous-auth").value
    authn = comp.flag("--authentication-config").value
    version = comp.version
    strategy = versions.anonymous_auth_strategy(version) if version else None
    health = set(versions.ANONYMOUS_HEALTH_PATHS)
    if authn is None:
        shown = _shown("--anonymous-auth", anon, comp.flag("--anonymous-auth").where, "true")
        if anon is not None and _bool(anon) is False:
            return _Outcome(
                Status.WARN,
                shown + "; --authentication-config not set",
                "anonymous access is off everywhere, which also fails kubeadm's anonymous /livez and /readyz probes "
                "(kubernetes#43784); restrict it to the health endpoints instead",
            )
        if strategy is versions.AnonymousAuthStrategy.RBAC_HEALTH_ONLY and version is not None:
            return _Outcome(
                Status.SKIP,
                shown,
                f"kube-apiserver {versions.format_version(version)} restricts anonymous access through RBAC "
                "(system:unauthenticated may reach only the health endpoints), which the host's files do not show: "
                "the live check 1.2.1-live judges it",
            )
        if strategy is None:
            return _Outcome(Status.WARN, shown, "the kube-apiserver version is unknown (no image tag in the manifest)")
        return _Outcome(Status.FAIL, shown + "; --authentication-config not set")
    shown = f"--authentication-config={authn}"
    if anon is not None:
        return _Outcome(
            Status.FAIL,
            f"{shown}; --anonymous-auth={anon}",
            "--anonymous-auth cannot be combined with --authentication-config: kube-apiserver refuses to start",
        )
    document, problem = _load_config(state, authn)
    if problem:
        return _Outcome(Status.FAIL, shown, problem)
    section = document.get("anonymous") if isinstance(document, dict) else None
    if not isinstance(section, dict):
        return _Outcome(
            Status.FAIL, f"{shown}: no anonymous section", "without one, anonymous requests are allowed on every path"
        )
    if _bool(str(section.get("enabled", "false"))) is not True:
        return _Outcome(
            Status.WARN,
            f"{shown}: anonymous.enabled is false",
            "anonymous access is off everywhere, which also fails kubeadm's anonymous /livez and /readyz probes",
        )
    conditions = section.get("conditions") or []
    paths = [str(c.get("path")) for c in conditions if isinstance(c, dict)]
    if not paths:
        return _Outcome(Status.FAIL, f"{shown}: anonymous enabled with no conditions (every path)")
    extra = [p for p in paths if p not in health]
    observed = f"{shown}: anonymous allowed on {', '.join(paths)}"
    if extra or len(paths) != len(conditions):
        return _Outcome(Status.FAIL, observed, "not health endpoints: " + (", ".join(extra) or "a non-path condition"))
    return _Outcome(Status.PASS, observed)


_PSA_RANK = {level: rank for rank, level in enumerate(PSA_LEVELS)}


def _pod_security_test(state: HostState, comp: ComponentState, profile: Profile | None) -> _Outcome:
    """A PodSecurity plugin configuration whose enforce/audit/warn defaults are the profile's levels or stricter."""
    values: Mapping[str, Any] = profile.values if profile is not None else DEFAULTS
    path = comp.flag("--admission-control-config-file").value
    if not path:
        return _Outcome(Status.FAIL, "--admission-control-config-file not set")
    document, problem = _load_config(state, path)
    if problem:
        return _Outcome(Status.FAIL, f"--admission-control-config-file={path}", problem)
    plugins = document.get("plugins") if isinstance(document, dict) else None
    entry = next((p for p in plugins or [] if isinstance(p, dict) and p.get("name") == "PodSecurity"), None)
    if entry is None:
        return _Outcome(Status.FAIL, f"{path}: no PodSecurity plugin entry")
    config = entry.get("configuration")
    where = path
    if config is None and entry.get("path"):
        where = posixpath.normpath(posixpath.join(posixpath.dirname(path), str(entry["path"])))
        config, problem = _load_config(state, where)
        if problem:
            return _Outcome(Status.FAIL, f"{path}: PodSecurity configuration in {where}", problem)
    defaults = config.get("defaults") if isinstance(config, dict) else None
    if not isinstance(defaults, dict):
        return _Outcome(Status.FAIL, f"{where}: the PodSecurity configuration has no defaults")
    observed = f"{where}: " + " ".join(f"{mode}={defaults.get(mode, 'unset')}" for mode in ("enforce", "audit", "warn"))
    weaker = []
    for mode in ("enforce", "audit", "warn"):
        want = str(values[f"kubeharden_pod_security_{mode}"])
        have = str(defaults.get(mode, "privileged"))
        if have not in _PSA_RANK or _PSA_RANK[have] < _PSA_RANK[want]:
            weaker.append(f"{mode} {have} (profile: {want})")
    if weaker:
        return _Outcome(Status.FAIL, observed, "weaker than the profile: " + ", ".join(weaker))
    return _Outcome(Status.PASS, observed)


# ----------------------------------------------------------------------------------------------------
# Encryption at rest (the host parsed the EncryptionConfiguration; only names and hashes are here)
# ----------------------------------------------------------------------------------------------------

STRONG_PROVIDERS = ("secretbox", "kms")
WEAKER_PROVIDERS = {
    "aescbc": "aescbc is open to a padding-oracle attack (Kubernetes docs: not recommended)",
    "aesgcm": "aesgcm keys must be rotated every 200,000 writes",
}


def _first_providers(config: Mapping[str, Any], resource: str) -> list[Mapping[str, Any]] | None:
    for rule in config.get("rules") or []:
        names = rule.get("resources") or []
        if resource in names or "*.*" in names:
            return list(rule.get("providers") or [])
    return None


def _resources(profile: Profile | None) -> list[str]:
    values: Mapping[str, Any] = profile.values if profile is not None else DEFAULTS
    return [str(r) for r in values.get("kubeharden_encryption_resources") or ["secrets"]]


def expected_prefix(provider: Mapping[str, Any]) -> str:
    """The prefix etcd values written with this provider carry: k8s:enc:<type>:v1:<first key name>."""
    kind = str(provider.get("type"))
    keys = provider.get("keys") or [""]
    version = "v2" if kind == "kms" and provider.get("api_version") == "v2" else "v1"
    return f"k8s:enc:{kind}:{version}:{keys[0]}"


def _encryption_test(state: HostState, which: str, profile: Profile | None) -> _Outcome:
    data = state.encryption
    config = data.get("config")
    if which == "volume":
        volume = data.get("volume") or {}
        if "encrypted" not in volume:
            return _Outcome(Status.WARN, "", volume.get("error") or "etcd's data directory was not examined")
        where = f"{volume.get('path')} on device {volume.get('device')}"
        if volume["encrypted"]:
            return _Outcome(Status.PASS, f"{where}: dm-crypt ({' < '.join(volume.get('chain') or [])})")
        return _Outcome(
            Status.WARN, f"{where}: {volume.get('reason', 'not dm-crypt')}", "etcd's files are readable on the disk"
        )
    if not isinstance(config, dict):
        return _Outcome(Status.FAIL, "--encryption-provider-config not set", "nothing is encrypted at rest")
    path = config.get("path")
    if config.get("missing"):
        return _Outcome(Status.FAIL, f"{path} does not exist", "kube-apiserver cannot start with it")
    if which == "identical":
        if not config.get("sha256"):
            return _Outcome(Status.WARN, f"{path}", config.get("error") or "no hash")
        return _Outcome(Status.SKIP, f"{path} sha256 {config['sha256']}", "compared across the control planes")
    if "rules" not in config:
        return _Outcome(Status.FAIL, f"{path}", f"cannot judge the file: {config.get('error', 'not parsed')}")
    firsts: dict[str, Mapping[str, Any]] = {}
    for resource in _resources(profile):
        providers = _first_providers(config, resource)
        if not providers:
            return _Outcome(Status.FAIL, f"{path}: no rule for {resource}", f"{resource} are stored unencrypted")
        firsts[resource] = providers[0]
    if which == "provider":
        observed = f"{path}: " + "; ".join(
            f"{r} -> {', '.join(str(p.get('type')) for p in _first_providers(config, r) or [])}" for r in firsts
        )
        kinds = {str(p.get("type")) for p in firsts.values()}
        if kinds - set(STRONG_PROVIDERS) - set(WEAKER_PROVIDERS):
            return _Outcome(Status.FAIL, observed, "the first provider does not encrypt: " + ", ".join(sorted(kinds)))
        weaker = [WEAKER_PROVIDERS[k] for k in sorted(kinds) if k in WEAKER_PROVIDERS]
        if weaker:
            return _Outcome(Status.WARN, observed, "; ".join(weaker))
        return _Outcome(Status.PASS, observed)
    if which == "etcd":
        etcd = data.get("etcd")
        if not isinstance(etcd, dict):
            return _Outcome(Status.WARN, "", "etcd is not on this host: no raw values read")
        if "error" in etcd:
            return _Outcome(Status.WARN, "", f"cannot read etcd raw: {etcd['error']}")
        outcomes = []
        for resource, provider in firsts.items():
            found = etcd.get(resource) or {"error": "not sampled"}
            want = expected_prefix(provider)
            if "error" in found:
                outcomes.append(_Outcome(Status.WARN, f"{resource}: -", f"cannot read etcd raw: {found['error']}"))
                continue
            prefixes: Mapping[str, int] = found.get("prefixes") or {}
            shown = f"{resource}: " + (", ".join(f"{n} x {p}" for p, n in sorted(prefixes.items())) or "none stored")
            if prefixes.get("unencrypted"):
                outcomes.append(_Outcome(Status.FAIL, shown, f"expected {want}: rewrite them"))
            elif any(p != want for p in prefixes):
                outcomes.append(_Outcome(Status.WARN, shown, f"some written with another key than {want}: rewrite"))
            else:
                outcomes.append(_Outcome(Status.PASS, shown))
        return _combine_outcomes(outcomes)
    return _Outcome(Status.WARN, "", f"unknown encryption test {which!r} in the catalog")


def _combine_outcomes(outcomes: list[_Outcome]) -> _Outcome:
    status, observed, notes = _combine(outcomes)
    return _Outcome(status, observed, notes)


def cross_check_encryption(hashes: Mapping[str, str | None], results: list[Result]) -> list[Result]:
    """KH-ENC-SAME over the whole run: every control plane's EncryptionConfiguration has the same sha256."""
    seen = {host: h for host, h in hashes.items() if h}
    distinct = set(seen.values())
    listed = ", ".join(f"{host} {h[:12]}" for host, h in sorted(seen.items()))
    out = []
    for result in results:
        if result.control_id != "KH-ENC-SAME" or result.waived or result.status is not Status.SKIP:
            out.append(result)
            continue
        if len(distinct) == 1 and len(seen) == len(hashes):
            status, reason = Status.PASS, f"identical on all {len(seen)} control planes"
        elif len(distinct) > 1:
            status, reason = Status.FAIL, "the control planes differ: apiservers cannot read each other's writes"
        else:
            missing = sorted(set(hashes) - set(seen))
            status, reason = Status.FAIL, f"no file on {', '.join(missing)}"
        out.append(dataclasses.replace(result, status=status, observed=f"sha256: {listed}", reason=reason))
    return out


# ----------------------------------------------------------------------------------------------------
# File tests
# ----------------------------------------------------------------------------------------------------


def _check_stat(found: FileStat, mode: int, owner: str) -> bool:
    return found.mode is not None and _mode_ok(found.mode, mode) and found.owner == owner


def _file_test(state: HostState, test: Mapping[str, Any]) -> _Outcome:
    mode, owner = int(str(test["mode"]), 8), str(test.get("owner", "root:root"))
    wanted = f"mode {test['mode']} or stricter, {owner}"
    if "glob" in test:
        pattern = str(test["glob"])
        if pattern not in state.globs:
            return _Outcome(Status.WARN, "", f"{pattern} was not collected")
        paths = state.globs[pattern]
        if not paths:
            return _Outcome(Status.SKIP, f"no file matches {pattern}", "nothing to check on this host")
        stats = [state.files.get(p, FileStat(p, False, error="not collected")) for p in paths]
        bad = [s for s in stats if not _check_stat(s, mode, owner)]
        if bad:
            listed = ", ".join(s.describe() for s in bad[:5]) + (f" and {len(bad) - 5} more" if len(bad) > 5 else "")
            return _Outcome(Status.FAIL, f"{len(bad)} of {len(stats)} not {wanted}: {listed}")
        return _Outcome(Status.PASS, f"all {len(stats)} files matching {pattern} are {wanted}")
    path = str(test["file"])
    named_by_flag = path.startswith("flag:")
    if named_by_flag:
        _, component, flag = path.split(":", 2)
        comp = state.component(component)
        if comp is None:
            return _Outcome(Status.SKIP, "", f"{component} is not on this host")
        path_value = comp.flag(flag).value
        if not path_value:
            return _Outcome(Status.WARN, f"{component} {flag} not set", "cannot tell which path to check")
        path = path_value
    found = state.files.get(path)
    if found is None:
        return _Outcome(Status.WARN, path, f"{path} was not collected")
    if not found.exists:
        if named_by_flag:
            return _Outcome(Status.WARN, found.describe(), "the path the flag names does not exist")
        return _Outcome(Status.SKIP, found.describe(), "nothing to protect on this host")
    if found.mode is None:
        return _Outcome(Status.WARN, found.describe(), "its mode could not be read")
    observed = f"{path} mode {found.mode:o}, {found.owner}"
    return _Outcome(Status.PASS if _check_stat(found, mode, owner) else Status.FAIL, observed)


# ----------------------------------------------------------------------------------------------------
# Controls
# ----------------------------------------------------------------------------------------------------


def _live_test(name: str, live: Mapping[str, LiveOutcome] | None) -> _Outcome:
    if live is None:
        return _Outcome(Status.SKIP, "", f"live probe {name} not run (probes are off)")
    found = live.get(name)
    if found is None:
        return _Outcome(Status.SKIP, "", f"live probe {name} has no target on this host")
    return _Outcome(found.status, found.observed, found.reason)


def _run_test(
    state: HostState,
    comp: ComponentState | None,
    test: Mapping[str, Any],
    profile: Profile | None,
    live: Mapping[str, LiveOutcome] | None,
) -> list[_Outcome]:
    if "live" in test:
        return [_live_test(str(test["live"]), live)]
    if "file" in test or "glob" in test:
        return [_file_test(state, test)]
    if "firewall" in test:
        return [_firewall_test(state, str(test["firewall"]))]
    if comp is None:
        return [_Outcome(Status.WARN, "", f"test {dict(test)} needs a component")]
    if "flag" in test:
        outcomes = [_flag_test(comp, test)]
        if test["flag"] == "--insecure-port" and comp.name == APISERVER:
            outcomes.append(_insecure_listeners(state, comp))
        return outcomes
    if "urls" in test:
        return [_urls_test(comp, test["urls"])]
    if test.get("anonymous") == "restricted":
        return [_anonymous_test(state, comp)]
    if test.get("admission_config") == "pod_security":
        return [_pod_security_test(state, comp, profile)]
    if "encryption" in test:
        return [_encryption_test(state, str(test["encryption"]), profile)]
    return [_Outcome(Status.WARN, "", f"unknown test {dict(test)} in the catalog")]


def _firewall_test(state: HostState, which: str) -> _Outcome:
    """KH-FW-TABLE: our table is loaded with an input policy of drop; KH-FW-PERSIST: it survives a reboot."""
    from kubeharden.firewall import PERSIST_PATH, input_policy

    data = state.firewall
    if data is None:
        return _Outcome(Status.WARN, "", "the firewall state was not collected")
    if which == "loaded":
        loaded, policy, rules = input_policy(data.get("loaded"))
        if not loaded:
            return _Outcome(Status.FAIL, "table inet kubeharden not loaded", str(data.get("nft_error") or ""))
        observed = f"table inet kubeharden loaded, input policy {policy or 'none'}, {rules} rules"
        return _Outcome(Status.PASS if policy == "drop" and rules else Status.FAIL, observed)
    persist = data.get("persist") or {}
    problems = []
    if not persist.get("exists"):
        problems.append(f"{PERSIST_PATH} missing")
    elif not (_mode_ok(int(str(persist.get("mode")), 8), 0o600) and persist.get("uid") == 0):
        problems.append(f"{PERSIST_PATH} mode {persist.get('mode')} uid {persist.get('uid')}")
    if not data.get("include"):
        problems.append("/etc/nftables.conf does not include it")
    if data.get("service") != "enabled":
        problems.append(f"nftables.service is {data.get('service') or 'unknown'}")
    if problems:
        return _Outcome(Status.FAIL, "; ".join(problems))
    return _Outcome(Status.PASS, f"{PERSIST_PATH} mode {persist.get('mode')}, included, nftables.service enabled")


def _combine(outcomes: list[_Outcome]) -> tuple[Status, str, str]:
    statuses = {o.status for o in outcomes}
    if Status.FAIL in statuses:
        status = Status.FAIL
    elif Status.WARN in statuses:
        status = Status.WARN
    elif statuses == {Status.SKIP}:
        status = Status.SKIP
    else:
        status = Status.PASS
    observed = "; ".join(o.observed for o in outcomes if o.observed)
    notes = "; ".join(dict.fromkeys(o.note for o in outcomes if o.note))
    return status, observed, notes


def judge_control(
    state: HostState,
    control: Control,
    profile: Profile | None = None,
    live: Mapping[str, LiveOutcome] | None = None,
) -> Result:
    """One control on one host. Waived -> SKIP with the reason; an unscored FAIL is reported as WARN."""

    def result(status: Status, observed: str, reason: str = "", waived: bool = False) -> Result:
        return Result(
            control.id,
            state.host,
            status,
            control.title,
            observed,
            control.expected,
            control.remediation,
            reason,
            control.area,
            control.scored,
            waived,
        )

    waiver = profile.waived(control.id, control.area) if profile is not None else None
    if waiver:
        return result(Status.SKIP, "", f"waived: {waiver}", waived=True)
    comp = None
    if control.component is not None:
        comp = state.component(control.component)
        if comp is None:
            return result(
                Status.SKIP,
                "",
                f"not applicable: {control.component} is not on this host (no manifest, no running process)",
            )
        if comp.process is None and comp.manifest is None:
            problem = comp.manifest_error or comp.process_error or "no flags could be read"
            return result(Status.WARN, "", f"cannot judge: {control.component} is not running and {problem}")
    outcomes = [o for test in control.tests for o in _run_test(state, comp, test, profile, live)]
    status, observed, notes = _combine(outcomes)
    if comp is not None and not comp.running and status is not Status.SKIP:
        notes = "; ".join(filter(None, [f"{comp.name} is not running: judged from its manifest", notes]))
    if status is Status.FAIL and not control.scored:
        status, notes = Status.WARN, "; ".join(filter(None, ["unscored control: a failure is reported as WARN", notes]))
    return result(status, observed, notes)


def applicable_controls(role: str, controls: Iterable[Control] = CONTROLS) -> list[Control]:
    return [c for c in controls if applies(c, role)]


def judge_host(
    state: HostState,
    profile: Profile | None = None,
    live: Mapping[str, LiveOutcome] | None = None,
    controls: Iterable[Control] = CONTROLS,
) -> list[Result]:
    """Every control that applies to the host's role, in catalog order."""
    return [judge_control(state, c, profile, live) for c in applicable_controls(state.role, controls)]
