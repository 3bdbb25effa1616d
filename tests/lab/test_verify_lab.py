"""`kubeharden verify` and the testinfra suite against a real weak lab (its own, module-scoped): the weaknesses
the lab was given are found, what kubeadm gets right passes, each host costs one remote command, and a host whose
key does not match is not checked at all (exit 2). The last test hardens the lab's apiserver by hand and sees the
anonymous-access controls pass, on the real files and the real listener."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubeharden_lab.access import LabShell
from kubeharden_lab.manager import LabRecord

from kubeharden.core.manifests import dump_manifest, load_manifest

from .conftest import REPO, Lab, run_cli, unique_lab_name, wait_for

pytestmark = pytest.mark.lab
VERIFY = [sys.executable, "-m", "kubeharden", "verify"]


@pytest.fixture(scope="module")
def vlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """A weak lab with one control plane and one worker, only for this module; always removed."""
    if os.geteuid() != 0:
        pytest.fail("the lab tests need root (network namespaces, systemd-nspawn)")
    lab_dir = tmp_path_factory.mktemp("verify-lab") / ".lab"
    name = unique_lab_name("vf")
    try:
        proc = run_cli(
            "lab", "up", "--dir", str(lab_dir), "--name", name, "--control-planes", "1", "--workers", "1", "--weak",
            check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            pytest.fail(f"lab up failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
        record = LabRecord.load(lab_dir)
        assert record is not None
        lab = Lab(lab_dir, record, LabShell(lab_dir))

        def ready() -> bool:
            return all((lab.pod_status("cp1", pod) or {}).get("ready") for pod in ("kube-apiserver.yaml", "etcd.yaml"))

        wait_for("kube-apiserver and etcd ready on cp1", ready, timeout=180)
        yield lab
    finally:
        run_cli("lab", "down", "--dir", str(lab_dir), check=False)


def run_verify(lab: Lab, *extra: str, inventory: Path | None = None) -> subprocess.CompletedProcess[str]:
    args = [str(inventory or lab.dir / "inventory.py"), *extra]
    return subprocess.run([*VERIFY, *args], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)


def by_key(results: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["host"], r["control_id"]): r for r in results}


def test_verify_finds_the_weak_labs_weaknesses(vlab: Lab, tmp_path: Path) -> None:
    out_json, out_junit, out_md = tmp_path / "r.json", tmp_path / "r.xml", tmp_path / "r.md"
    started = time.monotonic()
    proc = run_verify(vlab, "--json", str(out_json), "--junit", str(out_junit), "--markdown", str(out_md))
    wall = time.monotonic() - started
    print(f"kubeharden verify on the lab: {wall:.2f}s wall (python start included)", file=sys.stderr)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    data = json.loads(out_json.read_text())
    results = by_key(data["results"])
    for cid in ("1.2.15", "1.2.16", "1.3.2", "1.4.1", "1.1.13", "1.2.1-live", "1.2.1", "1.1.11"):
        assert results[("cp1", cid)]["status"] == "FAIL", results[("cp1", cid)]
    assert results[("cp1", "1.2.15")]["observed"] == "--profiling=true"
    assert results[("cp1", "1.1.13")]["observed"] == "/etc/kubernetes/admin.conf mode 644, root:root"
    assert "GET /api -> 403" in results[("cp1", "1.2.1-live")]["observed"]
    for cid in ("4.1.1", "4.1.5", "4.1.9"):  # the kubelet's files on the worker too (CIS 4.1)
        assert results[("w1", cid)]["status"] == "FAIL", results[("w1", cid)]
    assert results[("w1", "4.1.9")]["observed"] == "/var/lib/kubelet/config.yaml mode 644, root:root"
    for cid in ("1.2.24", "2.2", "KH-ETCD-URLS", "KH-ETCD-CLIENT-live", "KH-API-INSECURE", "1.3.7"):
        assert results[("cp1", cid)]["status"] == "PASS", results[("cp1", cid)]
    assert results[("cp1", "1.1.21")]["status"] == "WARN"  # unscored: loose key modes warn
    # One remote command per host, as measured by the engine's transport.
    commands = {h["name"]: h["remote_commands"] for h in data["summary"]["hosts"]}
    assert commands == {"cp1": 1, "w1": 1}
    assert "Remote commands per host: cp1=1, w1=1" in proc.stdout
    assert data["summary"]["exit_code"] == 1 and data["summary"]["FAIL"] >= 8
    suites = {s.get("name"): s for s in ET.fromstring(out_junit.read_text()).iter("testsuite")}
    profiling = next(c for c in suites["cp1"].iter("testcase") if c.get("name", "").startswith("1.2.15 "))
    assert profiling.find("failure") is not None
    assert "| FAIL | 1.2.15 |" in out_md.read_text()
    key = (vlab.dir / "id_ed25519").read_text().strip().splitlines()[1]
    for text in (proc.stdout, out_json.read_text(), out_junit.read_text(), out_md.read_text()):
        assert "PRIVATE KEY" not in text and key not in text


def test_testinfra_suite_reports_one_testcase_per_host_and_control(vlab: Lab, tmp_path: Path) -> None:
    junit = tmp_path / "suite.xml"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/verify", "--inventory", str(vlab.dir / "inventory.py"),
         "--junitxml", str(junit), "-q", "-p", "no:cacheprovider"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    print(f"testinfra suite on the lab: {time.monotonic() - started:.2f}s wall", file=sys.stderr)
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-4000:]
    cases = {c.get("name"): c for c in ET.fromstring(junit.read_text()).iter("testcase")}
    assert cases["test_control[cp1:1.2.15]"].find("failure") is not None
    passed = cases["test_control[cp1:2.2]"]
    assert passed.find("failure") is None and passed.find("skipped") is None and passed.find("error") is None
    assert "remote commands per host: cp1=1" in proc.stdout


def test_a_host_whose_key_does_not_match_is_not_checked(vlab: Lab, tmp_path: Path) -> None:
    """Strict host keys in the engine: another key recorded for cp1 means exit 2 and no results for it."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    cp1 = vlab.record.spec.host("cp1")
    (tmp_path / "known_hosts").write_text(f"{cp1.address} {(tmp_path / 'other.pub').read_text().strip()}\n")
    data = {
        "ssh_hostname": cp1.address,
        "ssh_user": "root",
        "ssh_key": str(vlab.dir / "id_ed25519"),
        "ssh_known_hosts_file": str(tmp_path / "known_hosts"),
        "ssh_strict_host_key_checking": "yes",
        "kubeharden_firewall_admin_cidrs": [f"{vlab.record.spec.gateway}/32"],
    }
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"control_plane = [('cp1', {data!r})]\n")
    proc = run_verify(vlab, "--json", str(tmp_path / "r.json"), inventory=inventory)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["results"] == []
    error = report["summary"]["hosts"][0]["error"]
    assert "host key is not the one in the known_hosts file" in error and "never trusts a key" in error
    assert (tmp_path / "known_hosts").read_text().count("\n") == 1, "known_hosts is never written"


AUTHN = """apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
anonymous:
  enabled: true
  conditions:
  - path: /livez
  - path: /readyz
  - path: /healthz
"""


def test_hardened_anonymous_access_passes_on_the_real_apiserver(vlab: Lab, tmp_path: Path) -> None:
    """Changes the module's lab (so it runs last): an AuthenticationConfiguration mounted from a host path that
    differs from the path the apiserver sees, which the engine must read through the process's own view."""
    vlab.shell.write("cp1", "/srv/kh-authn/authentication-config.yaml", AUTHN, mode="0600")
    path = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    pod = load_manifest(vlab.shell.read("cp1", path))
    pod.remove_flag("--anonymous-auth")
    pod.set_flag("--authentication-config", "/etc/kubernetes/authn/authentication-config.yaml")
    pod.add_host_path_volume("authn", "/srv/kh-authn", "/etc/kubernetes/authn", True, "DirectoryOrCreate")
    before = (vlab.pod_status("cp1", "kube-apiserver.yaml") or {}).get("pid")
    vlab.shell.write("cp1", path, dump_manifest(pod), mode="0600")

    def restarted() -> bool:
        status = vlab.pod_status("cp1", "kube-apiserver.yaml") or {}
        return bool(status.get("ready") and status.get("pid") not in (None, before))

    wait_for("kube-apiserver restarted with --authentication-config", restarted, timeout=240)
    proc = run_verify(vlab, "--limit", "control_plane", "--json", str(tmp_path / "r.json"))
    results = by_key(json.loads((tmp_path / "r.json").read_text())["results"])
    assert proc.returncode == 1  # other weaknesses remain
    anonymous = results[("cp1", "1.2.1")]
    assert anonymous["status"] == "PASS", anonymous
    assert "anonymous allowed on /livez, /readyz, /healthz" in anonymous["observed"]
    live = results[("cp1", "1.2.1-live")]
    assert live["status"] == "PASS" and "GET /api -> 401, GET /livez -> 200" in live["observed"], live
