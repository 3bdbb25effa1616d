"""The plan of a whole harden run, computed once from what every host reported: pure, with no globals.

Inputs: the validated targets (inventory order, each with its profile), the state each host's one collection gave,
the run's selection (``--only``: areas, not waivers), and for ``rotate-key`` the EncryptionConfiguration a rotation
step rolls out. Output: per host the component plans, the file modes to tighten, the firewall ruleset, kubeadm's
ClusterConfiguration (first control plane) and the resources to rewrite (last control plane), plus the run-wide
encryption decision. Anything wrong is a problem sentence, and a plan with problems changes nothing anywhere.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubeharden.core import encryption, firewall
from kubeharden.core.catalog import AREAS, COMPONENTS, CONTROL_PLANE, CONTROLS, Control
from kubeharden.core.catalog.model import FileTest
from kubeharden.core.encryption import EncryptionError, Key, ReadBack
from kubeharden.core.manifests import load_manifest
from kubeharden.core.planning import ComponentPlan, plan_cluster_configuration, plan_component
from kubeharden.core.planning.kubelet import KubeletPlan, kubelet_controls, plan_kubelet, plan_kubelet_configmap
from kubeharden.core.profile import Profile
from kubeharden.core.state import FileStat, HostState

MANIFEST_DIR = "/etc/kubernetes/manifests"


@dataclass(frozen=True)
class Target:
    """One host of the run: its inventory name, role, groups, connection data and validated profile."""

    name: str
    role: str
    groups: tuple[str, ...]
    data: Mapping[str, Any] = field(repr=False)
    profile: Profile = field(repr=False)

    @property
    def address(self) -> str:
        return str(self.data.get("node_ip") or self.data.get("ssh_hostname") or self.name)


@dataclass(frozen=True)
class FileMode:
    """A file a control wants at most ``mode`` and owned by ``owner``; ``current`` as collected (None: missing)."""

    control_id: str
    path: str
    mode: int
    owner: str
    current: FileStat | None


@dataclass(frozen=True)
class EncryptionDecision:
    """The EncryptionConfiguration every control plane gets this run, and whether resources are rewritten after."""

    config: str | None = field(default=None, repr=False)
    rewrite: bool = False
    generated: bool = False
    stage: str = "final"
    """"readers": the first pass of a first enablement on several control planes (key behind identity, nothing
    encrypted yet); "final": the profile's provider first."""


@dataclass
class HostPlan:
    name: str
    role: str
    components: list[ComponentPlan] = field(default_factory=list)
    file_modes: list[FileMode] = field(default_factory=list)
    firewall: str | None = field(default=None, repr=False)
    confirm_timeout: int = 45
    cluster_config: tuple[str, str] | None = field(default=None, repr=False)
    """(current, planned) kubeadm ClusterConfiguration, on the first control plane."""
    rewrite: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    kubelet: KubeletPlan | None = None
    """The kubelet's config file (CIS 4.2), on every node that has a kubelet."""
    kubelet_configmap: tuple[str, str, list[str]] | None = field(default=None, repr=False)
    """(current, planned, control IDs) of kubeadm's kubelet-config ConfigMap, on the first control plane."""

    def current_file(self, state: HostState, path: str) -> FileStat | None:
        found = state.files.get(path)
        return found if found is not None and found.exists else None


@dataclass
class RunPlan:
    hosts: dict[str, HostPlan]
    encryption: EncryptionDecision
    selection: frozenset[str] | None
    problems: list[str] = field(default_factory=list)

    def selected(self, area: str) -> bool:
        return self.selection is None or area in self.selection


def _encryption_active(profile: Profile, selection: frozenset[str] | None) -> bool:
    if selection is not None and "encryption" not in selection:
        return False
    return all(not profile.waived(cid, "encryption") for cid in ("1.2.27", "1.2.28"))


def decide_encryption(
    control_planes: Sequence[Target],
    states: Mapping[str, HostState],
    selection: frozenset[str] | None,
    make_key: Callable[[], Key] = encryption.new_key,
) -> EncryptionDecision:
    """Generate a key only when no control plane has the file; otherwise read the file back and keep its keys;
    files that differ stop the run (EncryptionError)."""
    if not control_planes or not _encryption_active(control_planes[0].profile, selection):
        return EncryptionDecision()
    profile = control_planes[0].profile.values
    path = str(profile["kubeharden_encryption_config_file"])
    found: dict[str, ReadBack | None] = {}
    for target in control_planes:
        secret = states[target.name].secrets.get(path)
        if secret is None or secret.error:
            why = secret.error if secret is not None else "not collected"
            raise EncryptionError(f"{target.name}: {path} could not be read back ({why}); nothing was changed")
        found[target.name] = None if secret.missing else ReadBack(str(secret.sha256), str(secret.text))
    settings = encryption.settings_from_profile(profile)
    shared = encryption.resume_config(found, settings)
    where = f"{path} on the control planes"
    text, generated = encryption.desired_config(settings, shared, where, make_key)
    missing = [name for name, read in found.items() if read is None]
    if len(control_planes) > 1 and settings.provider != "kms":
        readers = encryption.readers_config(settings, text)
        if (shared is None or encryption.is_readers(shared.text, settings)) and not _all_have(found, readers):
            # a first enablement: every apiserver must read the key before any writes with it
            return EncryptionDecision(readers, False, generated, "readers")
    rewrite = shared is None or bool(missing)
    if shared is not None:
        before = encryption.summarize(encryption.parse_config(shared.text)).first_provider()
        after = encryption.summarize(encryption.parse_config(text)).first_provider()
        old_rules = encryption.parse_config(shared.text)
        covered = all(old_rules.providers_for(r) for r in settings.resources)
        rewrite = rewrite or before is None or after is None or before[0] != after[0] or not covered
        rewrite = rewrite or any(read is not None and read.sha256 != shared.sha256 for read in found.values())
    for target in control_planes:
        api = states[target.name].components.get("kube-apiserver")
        manifest = api.manifest if api is not None else None
        if manifest is None or manifest.get_flag("--encryption-provider-config") != path:
            rewrite = True
    return EncryptionDecision(text, rewrite, generated)


def _all_have(found: Mapping[str, ReadBack | None], text: str) -> bool:
    digest = encryption.sha256_text(text)
    return all(read is not None and read.sha256 == digest for read in found.values())


def _file_tests(selection: frozenset[str] | None, profile: Profile, role: str) -> Iterable[tuple[Control, FileTest]]:
    for control in CONTROLS:
        if control.applied_by != "tests" or (selection is not None and control.area not in selection):
            continue
        if role not in control.roles:
            continue
        if profile.waived(control.id, control.area):
            continue
        for test in control.file_tests:
            if test.fix:
                yield control, test


def file_modes(
    state: HostState,
    plans: Sequence[ComponentPlan],
    profile: Profile,
    selection: frozenset[str] | None,
    role: str = CONTROL_PLANE,
) -> list[FileMode]:
    """The paths of the file controls of the host's role (globs expanded, flag-named paths as the planned manifests
    name them), with their current stat; files the plans write themselves are left to those writes."""
    written = {f.path for p in plans for f in p.files}
    planned = {p.component: load_manifest(p.after) for p in plans if not p.problems}
    found: list[FileMode] = []
    for control, test in _file_tests(selection, profile, role):
        paths: list[str] = []
        if test.path:
            paths = [test.path]
        elif test.glob:
            paths = list(state.globs.get(test.glob, []))
        elif test.flag:
            component, flag = test.flag
            pod = planned.get(component)
            comp = state.components.get(component)
            source = pod if pod is not None else (comp.manifest if comp is not None else None)
            value = source.get_flag(flag) if source is not None else None
            if value and value.startswith("/"):
                paths = [source.host_path_for(value) or value] if source is not None else [value]
        for path in paths:
            if path in written:
                continue
            stat = state.files.get(path)
            found.append(FileMode(control.id, path, test.mode, test.owner, stat if stat and stat.exists else None))
    return found


def _component_plans(
    target: Target,
    state: HostState,
    selection: frozenset[str] | None,
    decision: EncryptionDecision,
) -> tuple[list[ComponentPlan], list[str]]:
    plans: list[ComponentPlan] = []
    problems: list[str] = []
    for component in COMPONENTS:
        comp = state.components.get(component)
        if comp is None or comp.manifest_text is None:
            continue
        plan = plan_component(
            comp.manifest_text,
            target.profile.values,
            manifest_path=f"{MANIFEST_DIR}/{component}.yaml",
            encryption_config=decision.config,
            encryption_stage=decision.stage,
            areas=selection,
        )
        if plan.problems:
            problems.append(
                f"{target.name}: the planned {component} manifest has problems, nothing was changed on any node:\n  - "
                + "\n  - ".join(plan.problems)
            )
        plans.append(plan)
    missing = []
    for path in sorted({p for plan in plans for p in plan.required_paths}):
        found = state.files.get(path)
        if found is None or not found.exists:
            missing.append(path + ("" if found is not None else " (not collected)"))
    if missing:
        problems.append(
            f"{target.name}: files the hardened manifests refer to are missing on the node, nothing was changed: "
            + ", ".join(missing)
        )
    return plans, problems


def _apiserver_port(plans: Sequence[ComponentPlan], state: HostState) -> int:
    """The port kube-apiserver serves after this run: the planned manifest's, else the current one's, else 6443."""
    plan = next((p for p in plans if p.component == "kube-apiserver" and not p.problems), None)
    pod = load_manifest(plan.after) if plan is not None else None
    if pod is None:
        comp = state.components.get("kube-apiserver")
        pod = comp.manifest if comp is not None else None
    port = pod.get_flag("--secure-port") if pod is not None else None
    return int(port) if port and port.isdigit() else 6443


def _firewall(target: Target, nodes: Sequence[firewall.Node], plans: Sequence[ComponentPlan], state: HostState) -> str:
    me = next(n for n in nodes if n.name == target.name)
    port = _apiserver_port(plans, state) if target.role == CONTROL_PLANE else None
    return firewall.render(firewall.build_ruleset(me, nodes, target.profile.values, port))


def plan_run(
    targets: Sequence[Target],
    states: Mapping[str, HostState],
    selection: Iterable[str] | None = None,
    encryption_override: str | None = None,
    make_key: Callable[[], Key] = encryption.new_key,
) -> RunPlan:
    """The whole run's plan (see the module docstring)."""
    chosen = None if selection is None else frozenset(selection) & frozenset(AREAS)
    control_planes = [t for t in targets if t.role == CONTROL_PLANE]
    problems: list[str] = []
    try:
        if encryption_override is not None:
            decision = EncryptionDecision(encryption_override, False, False)
        else:
            decision = decide_encryption(control_planes, states, chosen, make_key)
    except EncryptionError as exc:
        decision = EncryptionDecision()
        problems.append(f"{exc} (nothing was changed on any node)")
    nodes = [firewall.Node(t.name, t.address, t.role) for t in targets]
    run = RunPlan({}, decision, chosen, problems)
    for target in targets:
        state = states[target.name]
        host = HostPlan(
            target.name, target.role, confirm_timeout=int(target.profile["kubeharden_firewall_confirm_timeout"])
        )
        if target.role == CONTROL_PLANE:
            host.components, found = _component_plans(target, state, chosen, decision)
            problems.extend(found)
        host.file_modes = file_modes(state, host.components, target.profile, chosen, target.role)
        host.kubelet = plan_kubelet(state, target.profile, chosen)
        if host.kubelet is not None:
            problems.extend(host.kubelet.problems)
            if host.kubelet.changed:  # written whole, with its mode and owner: no separate chmod
                host.file_modes = [m for m in host.file_modes if m.path != host.kubelet.path]
        if run.selected("firewall") and not target.profile.waived("firewall", "firewall"):
            try:
                host.firewall = _firewall(target, nodes, host.components, state)
            except firewall.FirewallError as exc:
                problems.append(f"{target.name}: {exc}")
        run.hosts[target.name] = host
    if control_planes:
        _first_and_last(run, control_planes, states)
    return run


def _first_and_last(run: RunPlan, control_planes: Sequence[Target], states: Mapping[str, HostState]) -> None:
    first, last = control_planes[0], control_planes[-1]
    first_plan = run.hosts[first.name]
    config = states[first.name].kubeadm_config
    if first_plan.components and config is not None and config.text:
        try:
            planned, _ = plan_cluster_configuration(config.text, first_plan.components, first.profile.values)
        except ValueError as exc:
            first_plan.notes.append(f"kubeadm-config left as it is: {exc}")
        else:
            first_plan.cluster_config = (config.text, planned)
    elif first_plan.components and config is not None:
        first_plan.notes.append(f"kubeadm-config could not be read: {config.error or 'no ClusterConfiguration'}")
    kubelet_cm = states[first.name].kubelet_configmap
    if kubelet_cm is not None and kubelet_cm.text and kubelet_controls("workers", first.profile, run.selection):
        plan = plan_kubelet_configmap(kubelet_cm.text, first.profile, run.selection)
        first_plan.notes += plan.problems
        if plan.changed and not plan.problems:
            first_plan.kubelet_configmap = (kubelet_cm.text, plan.after, plan.control_ids)
    elif kubelet_cm is not None and kubelet_cm.error:
        first_plan.notes.append(f"the kubelet-config ConfigMap could not be read: {kubelet_cm.error}")
    last_plan = run.hosts[last.name]
    if run.encryption.rewrite and any(p.component == "kube-apiserver" for p in last_plan.components):
        last_plan.rewrite = list(last.profile["kubeharden_encryption_resources"])


def summary_paths(plan: HostPlan) -> list[str]:
    """Every path the host's plan writes, for reports (never contents)."""
    return sorted(
        {f.path for p in plan.components for f in p.files} | {posixpath.normpath(m.path) for m in plan.file_modes}
    )
