"""`kubeharden verify INVENTORY`: check every host of a pyinfra inventory against the control catalog.

Exit codes: 0 nothing failed, 1 a control failed, 2 something could not be checked (invalid inventory, an
unreachable host, a collection error). Also runnable as `python -m kubeharden verify`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubeharden.core.results import EXIT_UNCHECKED, HostRun
from kubeharden.faces.report import render_console, to_json, to_junit, to_markdown
from kubeharden.faces.verify_run import VerifyInputError, run_verify

_out = click.Path(dir_okay=False, writable=True, path_type=Path)


def _progress(run: HostRun) -> None:
    state = "could not be checked" if run.error else f"{len(run.results)} controls judged"
    click.echo(
        f"[verify] {run.name}: {run.remote_commands} remote command(s), {run.collect_seconds:.2f}s; {state}", err=True
    )


@click.command("verify")
@click.argument("inventory", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "json_file", type=_out, help="Write the results and a summary as JSON.")
@click.option("--junit", "junit_file", type=_out, help="Write JUnit XML: a testsuite per host.")
@click.option("--markdown", "markdown_file", type=_out, help="Write a Markdown report.")
@click.option("--limit", default=None, metavar="GROUP", help="Check only the hosts of this group (or this host).")
@click.option("--no-probes", is_flag=True, help="Skip the live probes from this machine (anonymous API, TLS 1.1, ...).")
@click.option("--verbose", "-v", is_flag=True, help="Show observed and expected values for passing controls too.")
def verify(
    inventory: Path,
    json_file: Path | None,
    junit_file: Path | None,
    markdown_file: Path | None,
    limit: str | None,
    no_probes: bool,
    verbose: bool,
) -> None:
    """Check every host of INVENTORY (a pyinfra inventory file) and report each control with evidence."""
    for path in (json_file, junit_file, markdown_file):
        if path is not None and not path.absolute().parent.is_dir():
            click.echo(f"error: {path}: its directory {path.absolute().parent} does not exist", err=True)
            click.echo("nothing was contacted; fix the path and run again", err=True)
            sys.exit(EXIT_UNCHECKED)
    try:
        report = run_verify(inventory, limit=limit, probes=not no_probes, progress=_progress)
    except VerifyInputError as exc:
        click.echo(f"error: {exc}", err=True)
        click.echo("nothing was contacted; fix the inventory and run again", err=True)
        sys.exit(EXIT_UNCHECKED)
    click.echo(render_console(report, verbose=verbose), nl=False)
    for path, render in ((json_file, to_json), (junit_file, to_junit), (markdown_file, to_markdown)):
        if path is not None:
            path.write_text(render(report))
            click.echo(f"wrote {path}", err=True)
    sys.exit(report.exit_code)


if __name__ == "__main__":
    verify()
