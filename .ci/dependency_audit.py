"""Audit the locked Python dependencies against PyPI's advisory data; waive an advisory only with a reason.

    python .ci/dependency_audit.py .ci/requirements.lock --waivers .ci/audit-waivers.json

pip-audit asks PyPI's per-release JSON (/pypi/NAME/VERSION/json) for each locked version. Where that answers nothing
(some mirrors and this project's build machines serve only the project JSON), the same advisory data is read from
the project JSON (/pypi/NAME/json): its ``vulnerabilities`` are those of the latest release, so they are exact for
a locked version that IS the latest, and the package is reported "not audited" otherwise -- never as clean.

Exit 0: no advisory that is not waived; 1: an advisory without a waiver (or an expired waiver); 2: bad input.
A waiver (.ci/audit-waivers.json) is ``{"ADVISORY-ID": {"package": "name", "reason": "...", "until": "YYYY-MM-DD"}}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PYPI = "https://pypi.org/pypi"


@dataclass
class Report:
    audited: dict[str, str] = field(default_factory=dict)
    not_audited: dict[str, str] = field(default_factory=dict)
    advisories: list[tuple[str, str, str, list[str]]] = field(default_factory=list)
    """(package, version, advisory id, fixed in)."""


def canonical(name: str) -> str:
    """PEP 503 name normalisation (pip freeze says zope.event, pip-audit zope-event)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_lock(text: str) -> dict[str, str]:
    """name -> version from ``name==version`` lines (comments and blank lines ignored)."""
    locked: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, version = line.partition("==")
        if not sep or not name.strip() or not version.strip():
            raise ValueError(f"line {number}: {raw!r} is not name==version")
        locked[canonical(name.strip())] = version.strip().split(";")[0].strip()
    return locked


def read_waivers(text: str, today: datetime.date) -> tuple[dict[str, dict[str, str]], list[str]]:
    """The waivers, and their problems (no reason, bad or past date): a problem fails the audit."""
    data = json.loads(text or "{}")
    if not isinstance(data, dict):
        return {}, ["the waivers file must be a JSON object of advisory id -> waiver"]
    problems: list[str] = []
    for advisory, waiver in data.items():
        if not isinstance(waiver, dict) or len(str(waiver.get("reason", "")).strip()) < 10:
            problems.append(f"waiver {advisory}: needs a reason of at least 10 characters")
            continue
        try:
            until = datetime.date.fromisoformat(str(waiver.get("until", "")))
        except ValueError:
            problems.append(f"waiver {advisory}: 'until' must be a date YYYY-MM-DD")
            continue
        if until < today:
            problems.append(f"waiver {advisory}: expired on {until} (look at the advisory again)")
    return data, problems


def from_pip_audit(document: Mapping[str, Any], report: Report, locked: Mapping[str, str]) -> list[str]:
    """Fill the report from pip-audit's JSON; the names pip-audit could not audit."""
    skipped: list[str] = []
    for dep in document.get("dependencies", []):
        name = canonical(str(dep["name"]))
        if dep.get("skip_reason"):
            skipped.append(name)
            continue
        report.audited[name] = "pip-audit"
        for vuln in dep.get("vulns", []):
            report.advisories.append((name, locked.get(name, "?"), vuln["id"], list(vuln.get("fix_versions", []))))
    return skipped


def from_project_json(
    name: str, version: str, fetch: Callable[[str], Mapping[str, Any] | None], report: Report
) -> None:
    """The fallback: the project JSON's advisories, exact only when the locked version is the latest."""
    project = fetch(f"{PYPI}/{name}/json")
    if project is None:
        report.not_audited[name] = "PyPI did not answer for this project"
        return
    latest = str(project.get("info", {}).get("version", ""))
    if latest != version:
        report.not_audited[name] = (
            f"locked {version}, latest {latest}: PyPI's per-release advisory data is not served here"
        )
        return
    report.audited[name] = "project JSON (latest release)"
    for vuln in project.get("vulnerabilities") or []:
        report.advisories.append((name, version, str(vuln.get("id")), list(vuln.get("fixed_in") or [])))


def judge(report: Report, waivers: Mapping[str, Mapping[str, str]]) -> tuple[list[str], list[str]]:
    """(failures, waived lines)."""
    failures, waived = [], []
    for name, version, advisory, fixed in report.advisories:
        waiver = waivers.get(advisory)
        line = f"{name} {version}: {advisory} (fixed in {', '.join(fixed) or 'no release yet'})"
        if waiver is not None and waiver.get("package", name) == name:
            waived.append(f"{line} -- waived until {waiver['until']}: {waiver['reason']}")
        else:
            failures.append(line)
    return failures, waived


def _fetch(url: str) -> Mapping[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 -- a fixed https URL
            return json.loads(response.read())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--waivers", type=Path)
    args = parser.parse_args(argv)
    try:
        locked = read_lock(args.lock.read_text())
        waivers, problems = read_waivers(args.waivers.read_text() if args.waivers else "", datetime.date.today())
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = Report()
    print(f"[audit] pip-audit over {len(locked)} locked packages (PyPI advisory data)", flush=True)
    proc = subprocess.run(
        [sys.executable, "-m", "pip_audit", "-r", str(args.lock), "--no-deps", "--disable-pip", "-f", "json",
         "--progress-spinner", "off"],
        capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    try:
        skipped = from_pip_audit(json.loads(proc.stdout), report, locked)
    except (ValueError, KeyError):
        print(f"[audit] pip-audit gave no report (rc {proc.returncode}): {proc.stderr.strip()[-400:]}")
        skipped = list(locked)
    if skipped:
        print(f"[audit] {len(skipped)} not audited by pip-audit; reading PyPI's project JSON for them", flush=True)
    for name in skipped:
        from_project_json(name, locked.get(name, ""), _fetch, report)
    failures, waived = judge(report, waivers)
    for line in waived:
        print(f"WAIVED {line}")
    for name, why in sorted(report.not_audited.items()):
        print(f"NOT AUDITED {name}: {why}")
    for line in [*problems, *failures]:
        print(f"FAIL {line}")
    print(
        f"[audit] {len(report.audited)} of {len(locked)} packages audited, {len(report.not_audited)} not audited, "
        f"{len(report.advisories)} advisories ({len(waived)} waived), {len(failures) + len(problems)} failing"
    )
    return 1 if failures or problems else 0


if __name__ == "__main__":
    sys.exit(main())
