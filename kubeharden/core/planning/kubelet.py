"""Plan the kubelet's config file on one node from the catalog's kubelet tests (CIS 4.2), and judge the plan with
the real judge before anything is written. Pure logic.

Only the config file is written. A failing value that comes from a FLAG (kubeadm-flags.env, /etc/default/kubelet,
the unit) overrides whatever the file says, so it is a problem of the plan naming the flag to remove, never a silent
edit of someone else's file. The kubelet reads its config file only at start: the deploy restarts it when the file
changes, through a health gate.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import yaml

from kubeharden.core import values
from kubeharden.core.catalog import CONTROLS, Control
from kubeharden.core.catalog.kubelet import KERNEL_SETTINGS, SYSCTL_FILE
from kubeharden.core.catalog.model import KubeletTest, Op, Param
from kubeharden.core.describe import remediation_text
from kubeharden.core.judge.kubelet import describe, judge_kubelet, setting_of
from kubeharden.core.judge.outcome import Context
from kubeharden.core.kubelet_config import EffectiveKubelet, parse_config
from kubeharden.core.profile import Profile
from kubeharden.core.results import Status
from kubeharden.core.state import HostState


@dataclass
class KubeletPlan:
    """The kubelet config file before and after, the controls the change serves, and what could not be planned."""

    path: str
    before: str = field(repr=False)
    after: str = field(repr=False)
    control_ids: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    running: bool = False
    """Whether a kubelet runs now (restarted after a change; else the file takes effect at its next start)."""
    sysctl: tuple[str, str] | None = field(default=None, repr=False)
    """(path, content): the kernel settings file written and applied before the config (protectKernelDefaults)."""

    @property
    def changed(self) -> bool:
        return self.after != self.before


def kubelet_controls(role: str, profile: Profile, selection: frozenset[str] | None) -> list[Control]:
    if selection is not None and "kubelet" not in selection:
        return []
    return [
        c for c in CONTROLS
        if c.kubelet_tests and role in c.roles and not profile.waived(c.id, c.area)
    ]  # fmt: skip


def desired_value(test: KubeletTest, profile: Mapping[str, Any]) -> Any:
    """The YAML value harden writes for a failing test (a Param is the profile's; a TLS version its Go spelling)."""
    wanted = test.set_to
    if isinstance(wanted, Param):
        wanted = profile.get(wanted.key)
        if isinstance(wanted, tuple):
            wanted = list(wanted)
    if test.op is Op.TLS_MIN and isinstance(wanted, str):
        return values.tls_spelling("kubelet", wanted)
    return wanted


def _set(config: dict[str, Any], key: str, value: Any) -> None:
    node = config
    *parents, last = key.split(".")
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[last] = value


def _judged(state: HostState, control: Control, profile: Profile) -> list[tuple[KubeletTest, Status]]:
    ctx = Context(state, None, profile.values)
    return [(test, judge_kubelet(ctx, test).status) for test in control.kubelet_tests]


def _fix(state: HostState, plan: KubeletPlan, controls: list[Control], profile: Profile) -> dict[str, Any]:
    """The config with every failing test's value written (a failing FLAG is a problem, a judged-only test a note)."""
    kubelet = state.kubelet
    if kubelet is None:
        raise AssertionError("invariant: the state has a kubelet")  # an invariant, kept under python -O
    config = copy.deepcopy(kubelet.config)
    for control in controls:
        for test, status in _judged(state, control, profile):
            if status is not Status.FAIL:
                continue
            found = setting_of(kubelet, test)
            if found.where.startswith("flag "):
                plan.problems.append(
                    f"{state.host}: {control.id}: {describe(test, found)} overrides the config file; remove "
                    f"{test.flag} from the kubelet's flags (kubeadm-flags.env, /etc/default/kubelet or the unit's "
                    "drop-ins), then run again"
                )
            elif test.set_to is None or test.key is None:
                plan.notes.append(f"{control.id}: not changed by harden: {remediation_text(control, profile.values)}")
            else:
                _set(config, test.key, desired_value(test, profile.values))
                plan.control_ids.append(control.id)
    return config


def plan_kubelet(state: HostState, profile: Profile, selection: frozenset[str] | None = None) -> KubeletPlan | None:
    """The node's kubelet config plan, or None when the host has no kubelet to harden."""
    kubelet = state.kubelet
    controls = kubelet_controls(state.role, profile, selection)
    if kubelet is None or not controls:
        return None
    before = state.kubelet_config or ""
    plan = KubeletPlan(kubelet.config_path, before, before, running=kubelet.flags_from == "running kubelet")
    if kubelet.config_error:
        plan.problems.append(f"{state.host}: {kubelet.config_error} ({kubelet.config_path}): nothing was changed")
        return plan
    config = _fix(state, plan, controls, profile)
    if "KH-KUBELET-PKD" in plan.control_ids and profile.values.get("kubeharden_kubelet_kernel_sysctls"):
        lines = "".join(f"{key} = {value}\n" for key, value in KERNEL_SETTINGS)
        plan.sysctl = (SYSCTL_FILE, "# kubeharden: what the kubelet needs with protectKernelDefaults\n" + lines)
    if plan.control_ids:
        plan.after = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        plan.problems += self_check(state, plan, controls, profile)
    plan.control_ids = sorted(set(plan.control_ids))
    return plan


def plan_kubelet_configmap(text: str, profile: Profile, selection: frozenset[str] | None = None) -> KubeletPlan:
    """kubeadm's kubelet-config ConfigMap with the same settings (``kubeadm join`` and ``kubeadm upgrade node``
    write a node's config.yaml from it, so without this a new or upgraded node would lose the hardening). Only the
    config file's settings: flags are per node."""
    config, error = parse_config(text)
    stub = HostState("kubelet-config", "workers", "", kubelet_config=text)
    stub.kubelet = EffectiveKubelet({}, "none", config, "kube-system/kubelet-config", error)
    plan = KubeletPlan("kube-system/kubelet-config", text, text)
    if error:
        plan.problems.append(f"the kubelet-config ConfigMap: {error}: it was left as it is")
        return plan
    controls = kubelet_controls("workers", profile, selection)
    config = _fix(stub, plan, controls, profile)
    if plan.control_ids:
        plan.after = yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
        plan.problems += self_check(stub, plan, controls, profile)
    plan.control_ids = sorted(set(plan.control_ids))
    return plan


def self_check(state: HostState, plan: KubeletPlan, controls: list[Control], profile: Profile) -> list[str]:
    """The planned file judged as the kubelet would run with it: every control the plan serves passes, and none
    that passed before fails."""
    kubelet = state.kubelet
    if kubelet is None:
        return []
    parsed, error = parse_config(plan.after)
    if error:
        return [f"{state.host}: the planned kubelet config does not parse: {error}"]
    planned = replace(state, kubelet=EffectiveKubelet(kubelet.flags, kubelet.flags_from, parsed, kubelet.config_path))
    problems = []
    for control in controls:
        before = {id(t): s for t, s in _judged(state, control, profile)}
        for test, status in _judged(planned, control, profile):
            regressed = before[id(test)] is Status.PASS and status is Status.FAIL
            unmet = control.id in plan.control_ids and status is Status.FAIL and test.set_to is not None
            if regressed or unmet:
                problems.append(f"{state.host}: {control.id}: the planned kubelet config would still fail ({test.key})")
    return problems
