"""Reports of a verification run: console text, JSON, JUnit XML and Markdown, all from one RunReport.

Every FAIL and WARN carries what was observed, what was expected and how to fix it; every waiver is listed with
its reason, in every format. Nothing here ever prints collected file contents; observed values are flag values,
paths, modes and probe answers, and anything that looks like PEM material is cut off as a last guard. Pure logic.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any

from kubeharden.core.results import HostRun, Result, RunReport, Status

_PEM = "-----BEGIN"


def safe(text: str) -> str:
    """Cut anything from a PEM header on: a report never shows key or certificate material."""
    index = text.find(_PEM)
    return text if index < 0 else text[:index] + "[redacted]"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def _totals(report: RunReport) -> str:
    counts = report.counts()
    return ", ".join(f"{counts[str(s)]} {s}" for s in Status)


def _host_line(host: HostRun) -> str:
    line = f"{host.name} ({host.role}, {host.address}): {_plural(host.remote_commands, 'remote command')}"
    line += f", collected in {host.collect_seconds:.2f}s"
    if host.probe_seconds:
        line += f", live probes {host.probe_seconds:.2f}s"
    return line


def render_console(report: RunReport, verbose: bool = False) -> str:
    """Per host and control: STATUS id title; observed/expected/fix for FAIL and WARN; totals; waivers."""
    lines = [f"kubeharden verify {report.inventory}: {_plural(len(report.hosts), 'host')}, {report.seconds:.1f}s"]
    for host in report.hosts:
        lines.append("")
        lines.append(_host_line(host))
        if host.error:
            lines.append(f"  COULD NOT CHECK: {safe(host.error)}")
            continue
        lines.extend(f"  {c}" for c in host.components)
        lines.extend(f"  note: {safe(n)}" for n in host.notes)
        if not host.results:
            lines.append(f"  no control of the catalog applies to the role {host.role}")
        for r in host.results:
            lines.append(f"  {r.status!s:<4}  {r.control_id:<20} {r.title}")
            if r.status in (Status.FAIL, Status.WARN) or (verbose and r.status is Status.PASS):
                lines.append(f"        observed: {safe(r.observed) or '-'}")
                lines.append(f"        expected: {r.expected}")
            if r.status in (Status.FAIL, Status.WARN):
                lines.append(f"        fix:      {r.remediation}")
            if r.reason and r.status is not Status.PASS:
                lines.append(f"        {'why' if r.status is not Status.SKIP else 'skip'}:      {safe(r.reason)}")
    lines.append("")
    lines.append(f"Totals: {_totals(report)}")
    commands = ", ".join(f"{h.name}={h.remote_commands}" for h in report.hosts)
    lines.append(f"Remote commands per host: {commands}")
    if report.waivers:
        lines.append("Waivers:")
        lines.extend(f"  {r.host} {r.control_id}: {r.reason.removeprefix('waived: ')}" for r in report.waivers)
    if report.unchecked:
        lines.append("Could not check:")
        lines.extend(f"  {h.name}: {safe(h.error or '')}" for h in report.unchecked)
    lines.append(f"Exit code {report.exit_code}")
    return "\n".join(lines) + "\n"


def _result_dict(r: Result) -> dict[str, Any]:
    data = r.as_dict()
    for key in ("observed", "reason"):
        data[key] = safe(str(data[key]))
    return data


def to_dict(report: RunReport) -> dict[str, Any]:
    return {
        "inventory": report.inventory,
        "summary": {
            **report.counts(),
            "exit_code": report.exit_code,
            "seconds": round(report.seconds, 3),
            "live_probes": report.probes,
            "hosts": [
                {
                    "name": h.name,
                    "role": h.role,
                    "address": h.address,
                    "remote_commands": h.remote_commands,
                    "collect_seconds": round(h.collect_seconds, 3),
                    "probe_seconds": round(h.probe_seconds, 3),
                    "components": h.components,
                    "notes": [safe(n) for n in h.notes],
                    "error": safe(h.error) if h.error else None,
                }
                for h in report.hosts
            ],
        },
        "waivers": [{"host": r.host, "control_id": r.control_id, "reason": r.reason} for r in report.waivers],
        "results": [_result_dict(r) for r in report.results],
    }


def to_json(report: RunReport) -> str:
    """The results (kube-bench-like fields) plus a summary with counts, exit code and per-host collection facts."""
    return json.dumps(to_dict(report), indent=2) + "\n"


def to_junit(report: RunReport) -> str:
    """A testsuite per host, a testcase per control: failure with observed/expected/remediation, skipped with the
    reason, WARN as a passing case with its details in system-out; an unreachable host is an error."""
    root = ET.Element("testsuites", name="kubeharden verify")
    totals = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
    for host in report.hosts:
        suite = ET.SubElement(root, "testsuite", name=host.name, hostname=host.address)
        props = ET.SubElement(suite, "properties")
        for prop, text in (("role", host.role), ("remote_commands", str(host.remote_commands))):
            ET.SubElement(props, "property", name=prop, value=text)
        counts = {"tests": 0, "failures": 0, "skipped": 0, "errors": 0}
        if host.error:
            case = ET.SubElement(suite, "testcase", classname=f"kubeharden.{host.name}", name="collect host state")
            ET.SubElement(case, "error", message=safe(host.error), type="CollectionError").text = safe(host.error)
            counts["tests"] += 1
            counts["errors"] += 1
        for r in host.results:
            counts["tests"] += 1
            case = ET.SubElement(
                suite, "testcase", classname=f"kubeharden.{host.name}", name=f"{r.control_id} {r.title}", time="0"
            )
            details = f"observed: {safe(r.observed)}\nexpected: {r.expected}\nremediation: {r.remediation}"
            if r.reason:
                details += f"\nreason: {safe(r.reason)}"
            if r.status is Status.FAIL:
                counts["failures"] += 1
                failure = ET.SubElement(case, "failure", message=safe(r.observed) or r.title, type="FAIL")
                failure.text = details
            elif r.status is Status.SKIP:
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=safe(r.reason))
            elif r.status is Status.WARN:
                ET.SubElement(case, "system-out").text = "WARN\n" + details
        for key, value in counts.items():
            suite.set(key, str(value))
            totals[key] += value
        suite.set("time", f"{host.collect_seconds + host.probe_seconds:.3f}")
    for key, value in totals.items():
        root.set(key, str(value))
    root.set("time", f"{report.seconds:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    return safe(text).replace("|", "\\|").replace("\n", " ") or "-"


def to_markdown(report: RunReport) -> str:
    """A readable page: totals, waivers, then a table per host and the fixes for what failed or warned."""
    out = [f"# kubeharden verification: {report.inventory}", ""]
    out.append(f"**{_totals(report)}**; exit code {report.exit_code}; {report.seconds:.1f}s.")
    out.append("")
    if report.waivers:
        out += ["## Waivers", "", "| Host | Control | Reason |", "|---|---|---|"]
        out += [f"| {r.host} | {r.control_id} | {_cell(r.reason.removeprefix('waived: '))} |" for r in report.waivers]
        out.append("")
    for host in report.hosts:
        out += [f"## {host.name}", "", _host_line(host), ""]
        if host.error:
            out += [f"**Could not check:** {_cell(host.error)}", ""]
            continue
        out += [f"- {c}" for c in host.components] + [f"- note: {_cell(n)}" for n in host.notes]
        out += ["", "| Status | Control | Title | Observed | Expected |", "|---|---|---|---|---|"]
        for r in host.results:
            observed = r.observed if r.status is not Status.SKIP else r.reason
            out.append(f"| {r.status} | {r.control_id} | {_cell(r.title)} | {_cell(observed)} | {_cell(r.expected)} |")
        problems = [r for r in host.results if r.status in (Status.FAIL, Status.WARN)]
        if problems:
            out += ["", "### To fix", ""]
            for r in problems:
                why = f" ({_cell(r.reason)})" if r.reason else ""
                out.append(f"- **{r.control_id}** {r.status}: {_cell(r.remediation)}{why}")
        out.append("")
    return "\n".join(out) + "\n"
