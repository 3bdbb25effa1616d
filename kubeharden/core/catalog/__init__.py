"""The control catalog: ONE source of truth per control, read by the planner, the judge, the reports and the docs.

Each control (kubeharden.core.catalog.model) carries its typed tests and, through them, what harden sets; the few
controls that need more than a flag edit name a planner registered by their ID (kubeharden.core.planning).
Versioned by the benchmark it follows (BENCHMARK) and by a digest of its own content (catalog_digest), which every
report shows. ``python -m kubeharden.core.catalog`` prints the coverage table of docs/controls.md. Pure data.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import asdict

from kubeharden.core.catalog import apiserver, cluster_wide, components, files, kubelet, kubelet_files
from kubeharden.core.catalog.apiserver import STRONG_CIPHER_SUITES
from kubeharden.core.catalog.model import (
    APISERVER,
    COMPONENTS,
    CONTROL_PLANE,
    CONTROLLER_MANAGER,
    ETCD,
    ROLES,
    SCHEDULER,
    WORKERS,
    Control,
    FileTest,
    FlagTest,
    Op,
    Param,
)

__all__ = [
    "APISERVER",
    "AREAS",
    "BENCHMARK",
    "CATALOG_VERSION",
    "COMPONENTS",
    "CONTROLLER_MANAGER",
    "CONTROLS",
    "CONTROL_PLANE",
    "ETCD",
    "ROLES",
    "SCHEDULER",
    "STRONG_CIPHER_SUITES",
    "WORKERS",
    "Control",
    "by_id",
    "catalog_digest",
    "coverage_markdown",
    "validate_catalog",
]

BENCHMARK = "CIS Kubernetes Benchmark 1.12"
"""The benchmark the CIS IDs follow (kube-bench's cis-1.12, for Kubernetes 1.32-1.34)."""
CATALOG_VERSION = "0.2.0"
"""Bumped when controls are added, removed or change meaning; catalog_digest() pins the exact content."""

AREAS: Mapping[str, str] = {
    "apiserver": "kube-apiserver flags and the files it reads (TLS, authn, authz, admission, audit)",
    "etcd": "etcd client and peer TLS, client-certificate auth, data directory",
    "controller-manager": "kube-controller-manager flags",
    "scheduler": "kube-scheduler flags",
    "files": "modes and owners of control-plane manifests, kubeconfigs and PKI (CIS 1.1)",
    "firewall": "nftables ACLs per role (table inet kubeharden), applied with commit-confirm; every host",
    "encryption": "Secrets encryption at rest: the EncryptionConfiguration, its key lifecycle, proof in etcd",
    "kubelet": "the kubelet on every node, workers and control planes: its files (CIS 4.1) and its effective "
    "configuration (CIS 4.2: flags over config.yaml), written to config.yaml and restarted through a health gate",
}
"""Areas: one switch each in the profile (kubeharden_<area>_enabled), waivable as a whole, selectable by --only."""

CONTROLS: tuple[Control, ...] = (
    *files.CONTROLS,
    *apiserver.CONTROLS,
    *components.CONTROLLER_MANAGER_CONTROLS,
    *components.SCHEDULER_CONTROLS,
    *cluster_wide.ENCRYPTION_CONTROLS,
    *components.ETCD_CONTROLS,
    *cluster_wide.FIREWALL_CONTROLS,
    *kubelet_files.CONTROLS,
    *kubelet.CONTROLS,
)

_BY_ID = {c.id: c for c in CONTROLS}


def by_id() -> dict[str, Control]:
    return dict(_BY_ID)


def for_component(component: str) -> list[Control]:
    """The controls judged and planned on one component's manifest, in catalog order."""
    return [c for c in CONTROLS if c.component == component]


def catalog_digest() -> str:
    """sha256 (first 12 hex digits) of the catalog's content: two reports with the same digest judged by the same
    rules."""
    text = repr([asdict(c) for c in CONTROLS]).encode()
    return hashlib.sha256(text).hexdigest()[:12]


def profile_params(controls: Iterable[Control] = CONTROLS) -> dict[str, list[tuple[str, FlagTest]]]:
    """Profile key -> the (control ID, flag test) pairs whose value it gives: what each profile key feeds."""
    found: dict[str, list[tuple[str, FlagTest]]] = {}
    for control in controls:
        for test in control.flag_tests:
            for value in (test.value, test.default):
                if isinstance(value, Param):
                    found.setdefault(value.key, []).append((control.id, test))
    return found


def profile_feeds(controls: Iterable[Control] = CONTROLS) -> dict[str, list[str]]:
    """Profile key -> the IDs of the controls it feeds (test values, ``when`` conditions, what planners read)."""
    found: dict[str, list[str]] = {}
    chosen = list(controls)
    for key, uses in profile_params(chosen).items():
        found.setdefault(key, []).extend(cid for cid, _ in uses)
    for control in chosen:
        keys = [*control.reads, *([control.when.key] if control.when else [])]
        for key in keys:
            found.setdefault(key, []).append(control.id)
    return {key: list(dict.fromkeys(ids)) for key, ids in found.items()}


def validate_catalog(controls: Iterable[Control] = CONTROLS) -> list[str]:
    """Structural checks of the catalog itself (unique IDs, known areas, fixes that can be written)."""
    problems: list[str] = []
    seen: set[str] = set()
    for c in controls:
        if c.id in seen:
            problems.append(f"duplicate control id {c.id}")
        seen.add(c.id)
        if c.area not in AREAS:
            problems.append(f"{c.id}: unknown area {c.area}")
        if not c.tests:
            problems.append(f"{c.id}: no test")
        if any(r not in ROLES for r in c.roles):
            problems.append(f"{c.id}: unknown role in {c.roles}")
        for test in c.flag_tests:
            if c.component is None:
                problems.append(f"{c.id}: a flag test needs the control's component")
            if not test.flag.startswith("--"):
                problems.append(f"{c.id}: flag {test.flag!r} must start with --")
            if test.op is Op.SET and test.fix and c.applied_by == "tests" and test.default is None:
                problems.append(f"{c.id}: {test.flag} is SET with a fix but no default to write")
            if test.volume and not isinstance(test.default, str):
                problems.append(f"{c.id}: {test.flag} names a volume but no path default")
        for file_test in c.file_tests:
            if sum(x is not None for x in (file_test.path, file_test.flag, file_test.glob)) != 1:
                problems.append(f"{c.id}: a file test names exactly one of path, flag, glob")
        if c.applied_by != "tests" and c.applied_by not in ("planner", "firewall", "none"):
            problems.append(f"{c.id}: unknown applied_by {c.applied_by!r}")
    return problems


def coverage_markdown(controls: Iterable[Control] = CONTROLS) -> str:
    """The coverage table of docs/controls.md, generated from the catalog (a unit test keeps the file in step)."""
    from kubeharden.core.describe import expected_text
    from kubeharden.core.profile import DEFAULTS

    applied = {"tests": "harden", "planner": "harden (planner)", "firewall": "harden (firewall)", "none": "report"}
    lines = ["| ID | Area | Control | Expected (default profile) | Applied by | Scored |", "|---|---|---|---|---|---|"]
    for c in controls:
        expected = expected_text(c, DEFAULTS).replace("|", "\\|")
        scored = "yes" if c.scored else "no (WARN)"
        lines.append(f"| {c.id} | {c.area} | {c.title} | {expected} | {applied[c.applied_by]} | {scored} |")
    return "\n".join(lines) + "\n"


__all__ += ["FileTest", "FlagTest", "Op", "Param", "for_component", "profile_feeds", "profile_params"]
