"""The dependency audit's pure logic: the lock, waivers, the project-JSON fallback and the verdict."""

from __future__ import annotations

import datetime
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "dependency_audit", Path(__file__).parents[2] / ".ci" / "dependency_audit.py"
)
assert _SPEC is not None and _SPEC.loader is not None
audit = importlib.util.module_from_spec(_SPEC)
sys.modules["dependency_audit"] = audit  # dataclasses look their module up
_SPEC.loader.exec_module(audit)

TODAY = datetime.date(2026, 12, 2)


def test_the_repository_lock_reads_and_names_are_canonical() -> None:
    locked = audit.read_lock((Path(__file__).parents[2] / ".ci" / "requirements.lock").read_text())
    assert "pyinfra" in locked and "paramiko" in locked
    assert all(name == audit.canonical(name) for name in locked)
    assert audit.canonical("zope.event") == "zope-event" == audit.canonical("Zope_Event")


def test_a_bad_lock_line_is_an_error_naming_the_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        audit.read_lock("a==1\nb>=2\n")


@pytest.mark.parametrize(
    ("waiver", "problem"),
    [
        ({"package": "x", "reason": "short", "until": "2027-01-01"}, "reason"),
        ({"package": "x", "reason": "not reachable from our code", "until": "soon"}, "YYYY-MM-DD"),
        ({"package": "x", "reason": "not reachable from our code", "until": "2026-12-01"}, "expired"),
    ],
)
def test_a_waiver_needs_a_reason_and_a_future_date(waiver: dict[str, str], problem: str) -> None:
    import json

    _, problems = audit.read_waivers(json.dumps({"GHSA-1": waiver}), TODAY)
    assert len(problems) == 1 and problem in problems[0]


def _project(version: str, vulns: list[dict[str, Any]]) -> dict[str, Any]:
    return {"info": {"version": version}, "vulnerabilities": vulns}


def test_the_fallback_audits_only_the_latest_release_and_says_so_otherwise() -> None:
    report = audit.Report()
    audit.from_project_json("a", "1.0", lambda url: _project("1.0", [{"id": "PYSEC-1", "fixed_in": ["1.1"]}]), report)
    audit.from_project_json("b", "1.0", lambda url: _project("2.0", []), report)
    audit.from_project_json("c", "1.0", lambda url: None, report)
    assert report.audited == {"a": "project JSON (latest release)"}
    assert set(report.not_audited) == {"b", "c"} and "latest 2.0" in report.not_audited["b"]
    assert report.advisories == [("a", "1.0", "PYSEC-1", ["1.1"])]


def test_an_advisory_fails_unless_waived_for_that_package() -> None:
    report = audit.Report(advisories=[("a", "1.0", "PYSEC-1", ["1.1"]), ("b", "2.0", "PYSEC-2", [])])
    waivers = {"PYSEC-1": {"package": "a", "reason": "the vulnerable function is never called", "until": "2027-01-01"}}
    failures, waived = audit.judge(report, waivers)
    assert failures == ["b 2.0: PYSEC-2 (fixed in no release yet)"]
    assert len(waived) == 1 and "never called" in waived[0]
    other = {"PYSEC-2": {"package": "zzz", "reason": "waived for another package", "until": "2027-01-01"}}
    assert len(audit.judge(report, other)[0]) == 2


def test_pip_audit_results_are_read_and_its_skips_handed_to_the_fallback() -> None:
    report = audit.Report()
    skipped = audit.from_pip_audit(
        {"dependencies": [
            {"name": "A", "version": "1", "vulns": [{"id": "GHSA-x", "fix_versions": ["2"]}]},
            {"name": "zope.event", "skip_reason": "not found"},
        ]},
        report, {"a": "1"},
    )  # fmt: skip
    assert skipped == ["zope-event"]
    assert report.advisories == [("a", "1", "GHSA-x", ["2"])]
