"""Which flags each component's version really has: tables generated from the real binaries' ``--help``
(kubeharden/core/flag_tables.json, made by kubeharden_lab.flag_tables, checked against the lab's binaries in CI).

A planned flag the component's minor version does not have would make it exit at start ("unknown flag"), so it is
a plan problem before anything is written. Flags the running manifest already has are evidence enough that they
exist (pflag hides deprecated flags from ``--help`` but still accepts them), so only NEW flags are checked. A minor
version without a table is not guessed at: the plan says which versions have tables.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources

from kubeharden.core.versions import ETCD, FLAG_AVAILABILITY, Version

KUBE_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")


@cache
def _document() -> dict[str, dict[str, dict[str, object]]]:
    text = resources.files("kubeharden.core").joinpath("flag_tables.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def _family(component: str) -> str | None:
    if component == ETCD:
        return "etcd"
    return "kubernetes" if component in KUBE_COMPONENTS else None


def table_versions(component: str) -> list[str]:
    """The minor versions with a table for ``component`` ("1.34", or etcd's "3.6")."""
    family = _family(component)
    return sorted(_document().get(family, {})) if family else []


def known_flags(component: str, version: Version) -> frozenset[str] | None:
    """The flags of ``component`` at ``version``'s minor, or None when no table covers it."""
    family = _family(component)
    entry = _document().get(family or "", {}).get(f"{version[0]}.{version[1]}")
    if not isinstance(entry, dict):
        return None
    flags = entry["flags"]
    if not isinstance(flags, dict) or component not in flags:
        return None
    return frozenset(flags[component])


def source(component: str, version: Version) -> str:
    """The binary a table was read from (like "v1.34.4")."""
    entry = _document().get(_family(component) or "", {}).get(f"{version[0]}.{version[1]}", {})
    return str(entry.get("source", "?")) if isinstance(entry, dict) else "?"


def unknown_new_flags(component: str, version: Version, before: Iterable[str], after: Iterable[str]) -> list[str]:
    """Problems for flags in ``after`` that are not in ``before`` and that the version's table does not have."""
    known = known_flags(component, version)
    if known is None:
        return []
    old, name, binary = set(before), ".".join(map(str, version)), source(component, version)
    return [
        f"{component} {name} has no flag {flag} (its --help, from the {binary} binary, does not list it): "
        f"the component would exit at start with 'unknown flag'; remove {flag}"
        for flag in sorted(set(after) - old)
        if flag not in known
    ]


def in_any_table(component: str, flag: str) -> bool | None:
    """Whether any version's table of ``component`` has ``flag``, or the version rules know it as a flag of some
    versions (``--insecure-port`` before 1.24, which no table here covers); None: no table for this component."""
    versions = table_versions(component)
    if not versions:
        return None
    if any(rule.component == component and rule.flag == flag for rule in FLAG_AVAILABILITY):
        return True
    family = _family(component) or ""
    return any(flag in _document()[family][v]["flags"].get(component, ()) for v in versions)  # type: ignore[attr-defined]


__all__ = ["in_any_table", "known_flags", "table_versions", "unknown_new_flags"]
