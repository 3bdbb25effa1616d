"""Plan the hardening of one static pod manifest from the catalog: every active control of the component is applied
by its tests' generic fix or by the planner registered for its ID, the profile's extra flags last; then the plan
judges itself with the real judge and refuses what it would leave failing or make worse.

Pure logic: text and a profile in, a ComponentPlan out. A plan with ``problems`` must not be written. Planning the
planned manifest again changes nothing, and a manifest that is already hardened comes back byte for byte.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

from kubeharden.core import flag_tables, versions
from kubeharden.core.catalog import AREAS, COMPONENTS, Control, for_component
from kubeharden.core.catalog.model import EncryptionTest
from kubeharden.core.lint import lint
from kubeharden.core.manifests import ManifestError, StaticPod, dump_manifest, load_manifest
from kubeharden.core.planning import apiserver as _apiserver_planners  # noqa: F401  (registers planners)
from kubeharden.core.planning import components as _component_planners  # noqa: F401  (registers planners)
from kubeharden.core.planning.check import self_check
from kubeharden.core.planning.editor import PodEditor
from kubeharden.core.planning.generic import apply_flag_test
from kubeharden.core.planning.plan import ComponentPlan
from kubeharden.core.planning.registry import PLANNERS, Planner
from kubeharden.core.profile import DEFAULTS, EXTRA_ARGS, Profile

COMPONENT_AREAS: Mapping[str, str] = {
    "kube-apiserver": "apiserver",
    "kube-controller-manager": "controller-manager",
    "kube-scheduler": "scheduler",
    "etcd": "etcd",
}
"""The control-plane components the planner hardens, and the area each belongs to."""
EXTRA_ARGS_KEY: Mapping[str, str] = {component: key for key, component in EXTRA_ARGS.items()}
CONFIG_ANNOTATION = "kubeharden.io/config-sha256"


def _guess_component(manifest_path: str) -> str:
    stem = posixpath.basename(manifest_path).split(".", 1)[0]
    return stem if stem in COMPONENT_AREAS else stem or "unknown"


def not_control_plane(component: str) -> str:
    return (
        f"not a control-plane component manifest: the pod's component is {component!r}, kubeharden hardens "
        f"{', '.join(COMPONENTS)}"
    )


def active_controls(
    component: str, profile: Profile, areas: frozenset[str] | None, plan: ComponentPlan
) -> tuple[list[Control], list[Control]]:
    """(active, asked-for-by-nobody): the component's controls to apply, and those the profile's ``when`` turns
    off; waived ones are recorded in the plan."""
    active, dormant = [], []
    for control in for_component(component):
        if areas is not None and control.area not in areas:
            continue
        reason = profile.waived(control.id, control.area)
        if reason:
            if control.id not in dict(plan.waived):
                plan.waived.append((control.id, reason))
            continue
        if control.when is not None and not control.when.holds(profile.values):
            dormant.append(control)
            continue
        active.append(control)
    return active, dormant


def _defer_first_provider(active: list[Control], plan: ComponentPlan) -> list[Control]:
    """The readers pass: every apiserver first gets the key behind identity, so each can read what any other
    writes once one encrypts; the control that wants the key first is met by the next pass."""
    deferred = [c for c in active if any(isinstance(t, EncryptionTest) and t.which == "provider" for t in c.tests)]
    for control in deferred:
        plan.deferred.append(control.id)
        plan.notes.append(
            f"{control.id}: this pass adds the key behind identity on every control plane (readers); "
            "the next pass makes it the writer"
        )
    return [c for c in active if c not in deferred]


def _apply(ed: PodEditor, active: list[Control]) -> None:
    by_planner: dict[Planner, dict[str, Control]] = {}
    for control in active:
        if control.applied_by == "planner":
            by_planner.setdefault(PLANNERS[control.id], {})[control.id] = control
    done: set[Planner] = set()
    for control in active:
        if control.applied_by == "planner":
            fn = PLANNERS[control.id]
            if fn not in done:
                done.add(fn)
                fn(ed, by_planner[fn])
        elif control.applied_by == "tests":
            for test in control.flag_tests:
                apply_flag_test(ed, control, test)


def _dormant_notes(ed: PodEditor, dormant: Iterable[Control]) -> None:
    from kubeharden.core import flag_ops
    from kubeharden.core.catalog.model import resolve

    for control in dormant:
        failing = [
            t
            for t in control.flag_tests
            if not flag_ops.evaluate(t.op, ed.pod.get_flag(t.flag), t.unset, resolve(t.value, ed.values)).ok
        ]
        if failing and control.when is not None:
            ed.note(f"{control.id}: not applied because {control.when.describe()}: {control.rationale}")


def _extra_args(ed: PodEditor) -> None:
    """The profile's extra flags for this component, applied last; the self-check holds them to every control."""
    key = EXTRA_ARGS_KEY[ed.component]
    for flag, value in (ed.values.get(key) or {}).items():
        try:
            ed.set(None, str(flag), str(value), origin=key)
        except ManifestError as error:
            for sentence in error.problems:
                ed.problem(f"{ed.component}: {key}: {sentence}")


def _config_annotation(ed: PodEditor) -> None:
    """Record a hash of the component's kubeharden files in the manifest.

    The files are mounted as single files: a container keeps the inode it started with, so a changed file is seen
    only after a restart. Carrying the hash in the manifest makes a changed file change the manifest, and the
    kubelet restarts the component through the same health gate as any other change.
    """
    digest = hashlib.sha256()
    for planned in sorted(ed.plan.files, key=lambda f: f.path):
        digest.update(planned.path.encode() + b"\0" + planned.content.encode() + b"\0")
    metadata = ed.pod.document.setdefault("metadata", {})
    annotations = metadata.get("annotations") or {}
    owner = min((f.control_id for f in ed.plan.files), default=None)
    if not ed.plan.files:
        if CONFIG_ANNOTATION in annotations:
            del annotations[CONFIG_ANNOTATION]
            ed.change(None, f"annotation {CONFIG_ANNOTATION} removed (no kubeharden files)", "kubeharden")
        return
    value = digest.hexdigest()
    if annotations.get(CONFIG_ANNOTATION) != value:
        annotations[CONFIG_ANNOTATION] = value
        metadata["annotations"] = annotations
        ed.change(owner, f"annotation {CONFIG_ANNOTATION} = {value[:12]}… (restart when a config file changes)")


def _lint(pod: StaticPod, before: StaticPod) -> list[str]:
    """lint, the version rules and the version's flag table (for flags the plan adds) over the planned pod."""
    found = list(lint(pod))
    flags = pod.flags()
    if pod.version is not None:
        problems = versions.check_flags(pod.component, pod.version, flags)
        problems += flag_tables.unknown_new_flags(pod.component, pod.version, before.flags(), flags)
        for problem in problems:
            if problem not in found:
                found.append(problem)
    return found


def plan_component(
    manifest_text: str,
    profile: Mapping[str, Any],
    *,
    manifest_path: str,
    version_override: str | None = None,
    encryption_config: str | None = None,
    encryption_stage: str = "final",
    areas: Iterable[str] | None = None,
) -> ComponentPlan:
    """Plan the hardening of one static pod manifest.

        ``profile`` has every key of kubeharden.core.profile.DEFAULTS. ``version_override`` replaces the version read
        from the image tag. ``encryption_config`` is the EncryptionConfiguration text the run decided for every control
        plane (None plans no encryption change); ``encryption_stage`` "readers" is the first pass of a first enablement
    on several control planes (the key present but identity still first), which defers the first-provider control
    1.2.28 to the next pass. ``areas`` limits the plan to controls of these areas (``--only``;
        None: every area). A manifest that cannot be read, or is not one of the four control-plane components, gives a
        plan with ``problems`` and ``after == before``.
    """
    plan = ComponentPlan(_guess_component(manifest_path), manifest_path, None, manifest_text, manifest_text)
    try:
        pod = load_manifest(manifest_text, source=manifest_path)
    except ManifestError as error:
        plan.problems.extend(error.problems)
        return plan
    plan.component = pod.component
    if pod.component not in COMPONENT_AREAS:
        plan.problems.append(not_control_plane(pod.component))
        return plan
    others = [str(c.get("name")) for c in pod.document["spec"]["containers"] if c is not pod.container]
    if others:
        plan.notes.append(
            f"{pod.component}: the pod has other containers ({', '.join(others)}); kubeharden hardens the "
            f"{pod.container.get('name')} container only and leaves them as they are: review them yourself"
        )
    chosen = Profile(profile)
    area = COMPONENT_AREAS[pod.component]
    selected = None if areas is None else frozenset(areas) & set(AREAS)
    reason = chosen.waived(area, area)
    if reason:
        plan.waived.append((area, str(reason)))
        return plan
    if version_override is not None:
        try:
            pod.version = versions.parse_version(version_override)
        except ValueError as error:
            plan.problems.append(str(error))
            return plan
    plan.version = pod.version
    if pod.version is None:
        plan.problems.append(
            f"{pod.component}: cannot read a version from the image {pod.image!r}; the planner needs it to know "
            "which flags exist: give the version explicitly (kubeharden render --version V)"
        )
        return plan
    original = copy.deepcopy(pod.document)
    before = StaticPod(copy.deepcopy(pod.document), source=manifest_path)
    before.version = pod.version
    ed = PodEditor(pod, profile, pod.version, plan, {"encryption_config": encryption_config})
    active, dormant = active_controls(pod.component, chosen, selected, plan)
    if encryption_stage == "readers" and encryption_config is not None:
        active = _defer_first_provider(active, plan)
    _apply(ed, active)
    _dormant_notes(ed, dormant)
    if selected is None or area in selected:
        _extra_args(ed)
    _config_annotation(ed)
    if pod.document != original or plan.changes:
        plan.after = dump_manifest(pod)
    if plan.after == plan.before:
        plan.changes.clear()
    for problem in [*self_check(before, pod, plan, chosen, active), *_lint(pod, before)]:
        if problem not in plan.problems:
            plan.problems.append(problem)
    return plan


def render_manifest(text: str, *, version: str | None = None, profile: Mapping[str, Any] | None = None) -> str:
    """The hardened manifest for ``text`` (what ``kubeharden render MANIFEST [--version V]`` prints).

    Uses the default profile when ``profile`` is None. Raises ManifestError with one sentence per problem when the
    input is not a control-plane static pod manifest or the hardened manifest would have a problem.
    """
    pod = load_manifest(text)
    if pod.component not in COMPONENT_AREAS:
        raise ManifestError([not_control_plane(pod.component)])
    plan = plan_component(
        text,
        DEFAULTS if profile is None else profile,
        manifest_path=f"/etc/kubernetes/manifests/{pod.component}.yaml",
        version_override=version,
    )
    if plan.problems:
        raise ManifestError(plan.problems)
    return plan.after
