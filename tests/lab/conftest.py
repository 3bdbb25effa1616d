"""Fixtures for tests against the lab: real hosts, SSH, etcd and Kubernetes control-plane binaries.

Each test session makes its own lab with a unique name and subnet (so parallel runs do not collide) and always
removes it, also when a test fails or the run is interrupted with Ctrl-C.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubeharden_lab.access import LabShell
from kubeharden_lab.manager import LabRecord

REPO = Path(__file__).resolve().parents[2]
KUBEHARDEN = [sys.executable, "-m", "kubeharden"]


def wait_for(what: str, condition: Callable[[], Any], timeout: float = 120.0, interval: float = 1.0) -> Any:
    """Poll until `condition()` returns something truthy; fail with `what` after a generous bound."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = condition()
        except Exception as exc:  # a host or component that is restarting answers with errors for a while
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}")


def run_cli(*args: str, timeout: float = 1800, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*KUBEHARDEN, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    if check and proc.returncode != 0:
        pytest.fail(f"kubeharden {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-5000:]}")
    return proc


@dataclass
class Lab:
    """A running lab as the tests see it."""

    dir: Path
    record: LabRecord
    shell: LabShell

    def sh(self, host: str, command: str, check: bool = True, timeout: float = 120) -> str:
        return self.shell.run(host, command, check=check, timeout=timeout).stdout

    def pod_status(self, host: str, manifest: str) -> dict[str, Any] | None:
        out = self.sh(host, f"cat /run/kubeharden-lab/pods/{shlex.quote(manifest)}.json 2>/dev/null || true")
        return json.loads(out) if out.strip() else None

    def kubectl(self, host: str, args: str) -> str:
        return self.sh(host, f"kubectl --kubeconfig /etc/kubernetes/admin.conf {args}")


def unique_lab_name(prefix: str) -> str:
    """Lab names are short (they prefix interface names): prefix + the PID in base 36."""
    digits, n = "", os.getpid()
    while n:
        n, r = divmod(n, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[r] + digits
    return (prefix + digits)[:6]


@contextmanager
def running_lab(
    base: Path, prefix: str, control_planes: int = 2, workers: int = 2, weak: bool = True, kubelet: bool = False
) -> Iterator[Lab]:
    """Make a lab with a unique name, yield it, and always remove it (also on failure or Ctrl-C)."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces, systemd-nspawn)")
    lab_dir = base / ".lab"
    name = unique_lab_name(prefix)
    args = ["lab", "up", "--dir", str(lab_dir), "--name", name]
    args += ["--control-planes", str(control_planes), "--workers", str(workers)] + (["--weak"] if weak else [])
    args += ["--kubelet"] if kubelet else []
    try:
        started = time.monotonic()
        proc = run_cli(*args, check=False)
        sys.stderr.write(proc.stderr)
        if proc.returncode != 0:
            pytest.fail(f"lab up failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
        print(f"lab {name} up in {time.monotonic() - started:.0f}s", file=sys.stderr)
        record = LabRecord.load(lab_dir)
        assert record is not None
        yield Lab(lab_dir, record, LabShell(lab_dir))
    finally:
        run_cli("lab", "down", "--dir", str(lab_dir), check=False)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A weakened lab with 2 control planes and 2 workers for one test module, removed after it.

    Module scope: a module may change its lab (hardening does), and only one lab runs at a time.
    """
    with running_lab(tmp_path_factory.mktemp("lab"), "t") as made:
        yield made
