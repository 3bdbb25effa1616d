"""A lab on REAL kubelets (containerd + runc, the cluster made by plain `kubeadm init` and `kubeadm join`): the
weakened kubelet really serves anonymous requests, verify FAILs the kubelet's files on every node, harden (static
pods restarted by the real kubelet through the health gate) fixes what it covers and a second run changes nothing.

One lab for the module (1 control plane, 1 worker, --weak --kubelet); the steps build on each other.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import Lab, run_cli, running_lab, wait_for

STATIC_PODS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
READY = (
    "get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status} {end}'"
)
PHASES = "-n kube-system get pods -o jsonpath='{range .items[*]}{.metadata.name}={.status.phase} {end}'"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("kubeletlab"), "k", control_planes=1, workers=1, kubelet=True) as made:
        yield made


def address(lab: Lab, host: str) -> str:
    return lab.record.spec.host(host).address


def http_code(lab: Lab, source: str, url: str) -> str:
    """The HTTP status a request from inside `source` gets, or "000" when nothing answers."""
    out = lab.sh(source, f"curl -sk -m 5 -o /dev/null -w '%{{http_code}}' {url} || true")
    return out.strip()[-3:]


def verify(lab: Lab, out: Path) -> tuple[int, dict[str, Any]]:
    proc = run_cli("verify", str(lab.dir / "inventory.py"), "--json", str(out), check=False)
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    return proc.returncode, json.loads(out.read_text())


def harden(lab: Lab, out: Path) -> tuple[int, dict[str, Any], str]:
    proc = run_cli("harden", str(lab.dir / "inventory.py"), "--summary-json", str(out), check=False)
    summary = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, summary, proc.stderr + proc.stdout


def test_kubeadm_init_and_join_made_the_cluster_and_every_node_is_ready(lab: Lab) -> None:
    nodes = lab.kubectl("cp1", READY)
    assert sorted(nodes.split()) == ["cp1=True", "w1=True"], nodes
    # mirror pods: only a real kubelet makes them
    wanted = {f"{pod}-cp1=Running" for pod in STATIC_PODS}
    wait_for("the static pods' mirror pods Running", lambda: wanted <= set(lab.kubectl("cp1", PHASES).split()), 120, 2)
    assert (
        lab.sh("w1", "test -s /var/lib/kubelet/pki/kubelet-client-current.pem && echo bootstrapped").strip()
        == "bootstrapped"
    )


def test_the_weakened_kubelet_answers_anonymous_requests_on_10250_and_10255(lab: Lab) -> None:
    w1 = address(lab, "w1")
    assert http_code(lab, "cp1", f"https://{w1}:10250/pods") == "200"  # anonymous + AlwaysAllow: node takeover
    assert http_code(lab, "cp1", f"http://{w1}:10255/pods") == "200"  # the read-only port


def test_verify_fails_the_kubelets_files_and_its_weak_configuration_on_every_node(lab: Lab, tmp_path: Path) -> None:
    code, report = verify(lab, tmp_path / "before.json")
    assert code == 1
    results = {(r["host"], r["control_id"]): r for r in report["results"]}
    for host in ("cp1", "w1"):
        for control in ("4.1.1", "4.1.5", "4.1.9", "4.2.1", "4.2.2", "4.2.4", "KH-KUBELET-live"):
            assert results[(host, control)]["status"] == "FAIL", results[(host, control)]
    assert "-> HTTP 200" in results[("w1", "KH-KUBELET-live")]["observed"]  # probed from cp1
    assert (
        "(running kubelet)" in results[("w1", "4.2.4")]["observed"]
        or "config.yaml" in results[("w1", "4.2.4")]["observed"]
    )


def test_a_kubelet_that_cannot_start_with_its_new_config_is_restored_and_the_rollout_stops(
    lab: Lab, tmp_path: Path
) -> None:
    """Crash drill: protectKernelDefaults with the kernel settings "managed elsewhere"
    (kubeharden_kubelet_kernel_sysctls false) on a node whose kernel does not have them (as after a reboot without a
    sysctl file): the new kubelet exits at start. The gate gives up once systemd restarted it twice, restores the old
    config, and nothing else is touched."""
    # the values a fresh kernel has, in the lab host's writable copies (the machine's kernel is never touched)
    lab.sh("cp1", "echo 0 > /proc/sys/vm/overcommit_memory && echo 0 > /proc/sys/kernel/panic")
    before = lab.sh("cp1", "sha256sum /var/lib/kubelet/config.yaml").split()[0]
    drill = tmp_path / "drill"
    (drill / "group_data").mkdir(parents=True)
    shutil.copy(lab.dir / "inventory.py", drill / "inventory.py")
    (drill / "group_data" / "control_plane.py").write_text(
        "kubeharden_kubelet_kernel_sysctls = False\nkubeharden_health_timeout = 120\n"
    )
    proc = run_cli("harden", str(drill / "inventory.py"), "--summary-json", str(tmp_path / "drill.json"), check=False)
    summary = json.loads((tmp_path / "drill.json").read_text())
    output = proc.stderr + proc.stdout
    assert proc.returncode == 1, output[-4000:]
    kubelet = next(r for r in summary["hosts"]["cp1"]["components"] if r.get("component") == "kubelet")
    print(f"kubelet drill: gave up {kubelet.get('failed_after')}s after the restart, restored={kubelet['restored']}")
    assert kubelet["restored"] is True and kubelet["failed_after"] <= 60, kubelet
    assert "invalid kernel flag" in kubelet["error"], kubelet["error"]  # the kubelet's own words, from its journal
    assert summary["failed_host"] == "cp1" and summary["hosts"]["w1"]["status"] == "not touched", summary["hosts"]
    assert lab.sh("cp1", "sha256sum /var/lib/kubelet/config.yaml").split()[0] == before
    wait_for(
        "cp1's kubelet healthy again", lambda: lab.sh("cp1", "curl -s -m 3 http://127.0.0.1:10248/healthz") == "ok"
    )


def test_harden_on_real_kubelets_passes_verify_and_a_second_run_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    started = time.monotonic()
    code, _summary, output = harden(lab, tmp_path / "summary.json")
    took = time.monotonic() - started
    print(f"harden on real kubelets took {took:.0f}s")
    assert code == 0, output[-6000:]
    wait_for("kube-apiserver ready", lambda: lab.kubectl("cp1", "get --raw /readyz").strip() == "ok", 120, 2)
    code, report = verify(lab, tmp_path / "after.json")
    failing = [r for r in report["results"] if r["status"] == "FAIL"]
    assert code == 0 and not failing, json.dumps(failing, indent=1)[:6000]
    wanted = {f"{pod}-cp1=Running" for pod in STATIC_PODS}
    wait_for("the static pods' mirror pods Running", lambda: wanted <= set(lab.kubectl("cp1", PHASES).split()), 120, 2)
    w1 = address(lab, "w1")
    assert http_code(lab, "cp1", f"https://{w1}:10250/pods") == "401"  # anonymous refused by the restarted kubelet
    assert http_code(lab, "cp1", f"http://{w1}:10255/pods") == "000"  # nothing answers on the read-only port
    results = {(r["host"], r["control_id"]): r["status"] for r in report["results"]}
    for host in ("cp1", "w1"):
        for control in (
            "4.2.1",
            "4.2.2",
            "4.2.4",
            "4.2.13",
            "4.2.14",
            "KH-KUBELET-TLS",
            "KH-KUBELET-PKD",
            "KH-KUBELET-live",
        ):
            assert results[(host, control)] == "PASS", (host, control)
        # protectKernelDefaults is on and the kubelet runs: its kernel settings were written and applied first
        assert "vm.overcommit_memory = 1" in lab.sh(host, "cat /etc/sysctl.d/90-kubelet.conf")
        assert lab.sh(host, "cat /proc/sys/vm/overcommit_memory").strip() == "1"
    # kubeadm join and kubeadm upgrade node write config.yaml from this ConfigMap: it carries the same settings
    configmap = yaml.safe_load(
        lab.kubectl("cp1", "-n kube-system get configmap kubelet-config -o jsonpath={.data.kubelet}")
    )
    assert configmap["podPidsLimit"] == 4096 and configmap["protectKernelDefaults"] is True, configmap
    assert configmap["tlsMinVersion"] == "VersionTLS12" and configmap["seccompDefault"] is True
    code, again, output = harden(lab, tmp_path / "again.json")
    assert code == 0 and again["changed"] is False, output[-4000:]
