"""Kubelet tests: judged from the kubelet's effective configuration (its flags over its config file, absent keys at
the config file's defaults), with the operation meanings flag tests use (kubeharden.core.flag_ops)."""

from __future__ import annotations

from kubeharden.core import flag_ops
from kubeharden.core.catalog.model import KubeletTest, resolve
from kubeharden.core.judge.outcome import Context, Outcome
from kubeharden.core.kubelet_config import EffectiveKubelet, Setting
from kubeharden.core.results import Status

ZERO_DURATIONS = frozenset({"0", "0s", "0m0s", "0h0m0s"})


def setting_of(kubelet: EffectiveKubelet, test: KubeletTest) -> Setting:
    found = kubelet.setting(test.key or "", test.flag, test.default)
    if test.zero_is_default and found.value in ZERO_DURATIONS and not found.where.startswith("flag "):
        return Setting(test.default, f"{found.where}: {found.value} means the default")
    return found


def describe(test: KubeletTest, found: Setting) -> str:
    name = test.key or test.flag or "?"
    if found.value is None:
        return f"{name} not set ({found.where})"
    return f"{name}={found.value} ({found.where})"


def judge_kubelet(ctx: Context, test: KubeletTest) -> Outcome:
    kubelet = ctx.state.kubelet
    if kubelet is None:
        return Outcome(Status.SKIP, "", "no kubelet on this host (no process, unit or config file)")
    if kubelet.config_error and not (test.flag and test.flag in kubelet.flags):
        return Outcome(Status.WARN, "", f"cannot judge: {kubelet.config_error} ({kubelet.config_path})")
    if test.unless is not None:
        other = kubelet.setting(test.unless[0], None, None)
        if other.value is not None and other.value.lower() == test.unless[1]:
            return Outcome(Status.PASS, f"{test.unless[0]}={other.value} ({other.where})")
    found = setting_of(kubelet, test)
    wanted = resolve(test.value, ctx.profile)
    verdict = flag_ops.evaluate(test.op, found.value, test.default, wanted, "kubelet")
    return Outcome(Status.PASS if verdict.ok else Status.FAIL, describe(test, found), verdict.note)
