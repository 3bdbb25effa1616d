"""The lab's command line: `kubeharden lab up|status|down` (the product CLI forwards `lab` here lazily), also
`kubeharden-lab` and `python -m kubeharden_lab`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from kubeharden_lab.binaries import DEFAULT_K8S_VERSION, BuildError
from kubeharden_lab.config import LabConfigError

_dir_option = click.option(
    "--dir",
    "lab_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path(".lab"),
    show_default=True,
    help="Where the lab's inventory, SSH key and known_hosts are written.",
)


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group("lab")
def main() -> None:
    """The built-in lab: real kubeadm control planes and workers in systemd-nspawn hosts on this machine."""


@main.command("up")
@_dir_option
@click.option("--name", default="kh", show_default=True, help="Lab name; prefixes its namespaces and links.")
@click.option("--control-planes", type=int, default=1, show_default=True)
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--weak", is_flag=True, help="Start from a deliberately weakened but working state.")
@click.option("--k8s-version", default=DEFAULT_K8S_VERSION, show_default=True)
@click.option(
    "--kubelet",
    is_flag=True,
    help="Run a real kubelet and containerd on every host and make the cluster with plain kubeadm init/join "
    "(without it, the lab's static-pod runner stands in for the kubelet).",
)
def lab_up_cmd(
    lab_dir: Path, name: str, control_planes: int, workers: int, weak: bool, k8s_version: str, kubelet: bool
) -> None:
    """Make the lab (idempotent) and print the path of its pyinfra inventory."""
    from kubeharden_lab.access import AccessError
    from kubeharden_lab.machines import LabError
    from kubeharden_lab.manager import lab_up
    from kubeharden_lab.rootfs import RootfsError

    try:
        lab_up(lab_dir, name, control_planes, workers, weak, k8s_version, kubelet)
    except (LabConfigError, BuildError, RootfsError) as exc:
        _fail(str(exc))
    except (LabError, AccessError) as exc:
        _fail(
            f"{exc}\n(the lab is left as it is for inspection; `kubeharden lab down --dir {lab_dir}` removes it)",
            1,
        )
    click.echo(lab_dir / "inventory.py")


@main.command("status")
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
def lab_status_cmd(lab_dir: Path, as_json: bool) -> None:
    """Show each host and the pods the lab's static-pod runner runs on it."""
    from kubeharden_lab.manager import lab_status

    status = lab_status(lab_dir)
    if as_json:
        click.echo(json.dumps(status, indent=2))
        return
    if status["lab"] is None:
        click.echo(f"no lab recorded in {lab_dir}")
        sys.exit(1)
    click.echo(f"lab {status['lab']} ({status['subnet']}), phase {status['phase']}")
    for name, host in status["hosts"].items():
        click.echo(f"  {name:<5} {host['address']:<15} {host['role']:<14} {'up' if host['running'] else 'DOWN'}")
        for pod, info in sorted(host["pods"].items()):
            click.echo(
                f"        {pod:<28} {info.get('state', '?'):<8} pid={info.get('pid')} "
                f"restarts={info.get('restarts', 0)} ready={info.get('ready')}"
            )
    if not all(h["running"] for h in status["hosts"].values()):
        sys.exit(1)


@main.command("down")
@_dir_option
def lab_down_cmd(lab_dir: Path) -> None:
    """Remove the lab: hosts, processes, namespaces, links, mounts, cgroups. Safe to repeat."""
    from kubeharden_lab.manager import lab_down

    left = lab_down(lab_dir)
    if left:
        _fail("the lab could not be removed completely: " + ", ".join(left), 1)
    click.echo("lab removed")


if __name__ == "__main__":
    main()
