"""The `kubeharden` command line: harden, verify, render, rotate-key, and `lab` (forwarded to the lab package,
which is imported only when a lab command runs: the product never depends on its test lab)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from kubeharden import __version__


@click.group()
@click.version_option(__version__, prog_name="kubeharden")
def main() -> None:
    """Harden the hosts of kubeadm-built Kubernetes clusters, and prove it."""


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@main.command(
    "lab",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    add_help_option=False,
)
@click.pass_context
def lab(ctx: click.Context) -> None:
    """The built-in lab (up, status, down): real kubeadm clusters in systemd-nspawn hosts on this machine."""
    try:
        from kubeharden_lab.cli import main as lab_main
    except ImportError:
        _fail("the lab is not installed: it ships with kubeharden's repository (lab/), `make lab-assets` installs it")
    lab_main.main(args=list(ctx.args), prog_name="kubeharden lab")


@main.command("render")
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--version", "version", default=None, help="Component version to plan for (default: the image tag).")
def render_cmd(manifest: Path, version: str | None) -> None:
    """Print the hardened form of a kubeadm static pod MANIFEST, without contacting any host."""
    from kubeharden.core.planning import render_manifest

    try:
        raw = manifest.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {manifest}: {exc.strerror}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        _fail(f"{manifest}: is not UTF-8 text (byte {exc.start}); a static pod manifest is UTF-8 YAML")
    try:
        click.echo(render_manifest(text, version=version), nl=False)
    except ValueError as exc:
        _fail(f"{manifest}: {exc}")


def _register() -> None:
    """Commands that live in their own modules."""
    from kubeharden.faces.harden_cli import harden
    from kubeharden.faces.rotate_cli import rotate_key
    from kubeharden.faces.verify_cli import verify

    main.add_command(harden)
    main.add_command(rotate_key)
    main.add_command(verify)


_register()
