"""`kubeharden render`: the hardened manifest for review, without any host; clear errors for other input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

DATA = Path(__file__).resolve().parents[1] / "data" / "kubeadm"


def render(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kubeharden", "render", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_render_prints_a_hardened_pod_and_is_stable(tmp_path: Path) -> None:
    proc = render(str(DATA / "1.34.4-lab" / "kube-apiserver.yaml"))
    assert proc.returncode == 0, proc.stderr
    pod = yaml.safe_load(proc.stdout)
    command = pod["spec"]["containers"][0]["command"]
    assert "--profiling=false" in command
    assert not any(a.startswith("--anonymous-auth") for a in command)
    assert any(a.startswith("--authentication-config=") for a in command)
    again = tmp_path / "rendered.yaml"
    again.write_text(proc.stdout)
    assert render(str(again)).stdout == proc.stdout


def test_render_with_an_older_version_follows_its_rules() -> None:
    proc = render(str(DATA / "1.23.6-modified" / "kube-apiserver.yaml"))
    assert proc.returncode == 0, proc.stderr
    command = yaml.safe_load(proc.stdout)["spec"]["containers"][0]["command"]
    assert "--insecure-port=0" in command
    assert not any(a.startswith("--authentication-config") for a in command)


def test_render_refuses_what_is_not_a_static_pod(tmp_path: Path) -> None:
    proc = render(str(DATA / "1.22.1" / "kubelet-config.yaml"))
    assert proc.returncode == 2
    assert "not a static pod manifest" in proc.stderr and "KubeletConfiguration" in proc.stderr
    missing = render(str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "cannot read" in missing.stderr
    garbage = tmp_path / "garbage.yaml"
    garbage.write_text("::: not yaml [")
    bad = render(str(garbage))
    assert bad.returncode == 2 and "error:" in bad.stderr
