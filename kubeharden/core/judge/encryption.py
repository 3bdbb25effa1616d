"""Encryption-at-rest tests, from what the collector parsed ON the host (only hashes, provider types and key names
leave it), and the cross-host comparison of the EncryptionConfiguration (KH-ENC-SAME)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from kubeharden.core.catalog.model import EncryptionTest
from kubeharden.core.judge.outcome import Context, Outcome, combine
from kubeharden.core.results import Result, Status
from kubeharden.core.state import HostState

_Outcome = Outcome

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


def _resources(profile: Mapping[str, Any]) -> list[str]:
    return [str(r) for r in profile.get("kubeharden_encryption_resources") or ["secrets"]]


def expected_prefix(provider: Mapping[str, Any]) -> str:
    """The prefix etcd values written with this provider carry: k8s:enc:<type>:v1:<first key name>."""
    kind = str(provider.get("type"))
    keys = provider.get("keys") or [""]
    version = "v2" if kind == "kms" and provider.get("api_version") == "v2" else "v1"
    return f"k8s:enc:{kind}:{version}:{keys[0]}"


def _volume(data: Mapping[str, Any]) -> _Outcome:
    volume = data.get("volume") or {}
    if "encrypted" not in volume:
        return _Outcome(Status.WARN, "", volume.get("error") or "etcd's data directory was not examined")
    where = f"{volume.get('path')} on device {volume.get('device')}"
    if volume["encrypted"]:
        return _Outcome(Status.PASS, f"{where}: dm-crypt ({' < '.join(volume.get('chain') or [])})")
    return _Outcome(
        Status.WARN, f"{where}: {volume.get('reason', 'not dm-crypt')}", "etcd's files are readable on the disk"
    )


def _provider(path: str, config: Mapping[str, Any], firsts: Mapping[str, Mapping[str, Any]]) -> _Outcome:
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


def _raw(resource: str, found: Mapping[str, Any], provider: Mapping[str, Any]) -> _Outcome:
    want = expected_prefix(provider)
    if "error" in found:
        return _Outcome(Status.WARN, f"{resource}: -", f"cannot read etcd raw: {found['error']}")
    prefixes: Mapping[str, int] = found.get("prefixes") or {}
    shown = f"{resource}: " + (", ".join(f"{n} x {p}" for p, n in sorted(prefixes.items())) or "none stored")
    if prefixes.get("unencrypted"):
        return _Outcome(Status.FAIL, shown, f"expected {want}: rewrite them")
    if any(p != want for p in prefixes):
        return _Outcome(Status.WARN, shown, f"some written with another key than {want}: rewrite")
    return _Outcome(Status.PASS, shown)


def _etcd(data: Mapping[str, Any], firsts: Mapping[str, Mapping[str, Any]]) -> _Outcome:
    etcd = data.get("etcd")
    if not isinstance(etcd, dict):
        return _Outcome(Status.WARN, "", "etcd is not on this host: no raw values read")
    if "error" in etcd:
        return _Outcome(Status.WARN, "", f"cannot read etcd raw: {etcd['error']}")
    return _combine_outcomes(
        [_raw(r, etcd.get(r) or {"error": "not sampled"}, provider) for r, provider in firsts.items()]
    )


def _encryption_test(state: HostState, which: str, profile: Mapping[str, Any]) -> _Outcome:
    data = state.encryption
    if which == "volume":
        return _volume(data)
    config = data.get("config")
    if not isinstance(config, dict):
        return _Outcome(Status.FAIL, "--encryption-provider-config not set", "nothing is encrypted at rest")
    path = str(config.get("path"))
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
    return _provider(path, config, firsts) if which == "provider" else _etcd(data, firsts)


def _combine_outcomes(outcomes: list[_Outcome]) -> _Outcome:
    status, observed, notes = combine(outcomes)
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


def judge_encryption(ctx: Context, test: EncryptionTest) -> Outcome:
    return _encryption_test(ctx.state, test.which, ctx.profile)
