"""Config-file tests: the AuthenticationConfiguration (anonymous requests only on the health endpoints, CIS 1.2.1)
and the PodSecurity entry of the AdmissionConfiguration (defaults at the profile's levels or stricter)."""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

import yaml

from kubeharden.core import values, versions
from kubeharden.core.catalog.model import ConfigTest
from kubeharden.core.judge.flags import shown as _shown
from kubeharden.core.judge.outcome import Context, Outcome
from kubeharden.core.profile import PSA_LEVELS
from kubeharden.core.results import Status
from kubeharden.core.state import ComponentState, HostState

_Outcome = Outcome


def _bool(value: str) -> bool | None:
    return values.go_bool(value)


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


def _pod_security_test(state: HostState, comp: ComponentState, profile: Mapping[str, Any]) -> _Outcome:
    """A PodSecurity plugin configuration whose enforce/audit/warn defaults are the profile's levels or stricter."""
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
        want = str(profile[f"kubeharden_pod_security_{mode}"])
        have = str(defaults.get(mode, "privileged"))
        if have not in _PSA_RANK or _PSA_RANK[have] < _PSA_RANK[want]:
            weaker.append(f"{mode} {have} (profile: {want})")
    if weaker:
        return _Outcome(Status.FAIL, observed, "weaker than the profile: " + ", ".join(weaker))
    return _Outcome(Status.PASS, observed)


def judge_config(ctx: Context, test: ConfigTest) -> Outcome:
    if not (ctx.comp is not None):
        raise AssertionError("invariant: ctx.comp is not None")  # an invariant, kept under python -O
    if test.kind == "anonymous":
        return _anonymous_test(ctx.state, ctx.comp)
    return _pod_security_test(ctx.state, ctx.comp, ctx.profile)
