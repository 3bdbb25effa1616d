"""Harden a weakened lab without breaking it, and prove it against the real components.

weak lab -> verify reports FAIL -> harden -> verify reports PASS; live checks from this machine; a second harden
changes nothing; the kubeadm-config ConfigMap carries the settings; a crash drill rolls back and stops the rollout.
The steps build on each other, so the tests of this module run in order on one lab.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import Lab, run_cli, running_lab, wait_for

ISSUE_AREAS = {"apiserver", "etcd", "controller-manager", "scheduler", "files"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Two control planes (for the one-at-a-time rollout and the crash drill) and a worker, weakened."""
    with running_lab(tmp_path_factory.mktemp("hardenlab"), "h", control_planes=2, workers=1) as made:
        yield made


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the ordered steps hand to each other."""
    return {}


def verify(lab: Lab, out: Path) -> tuple[int, dict[str, Any]]:
    proc = run_cli("verify", str(lab.dir / "inventory.py"), "--json", str(out), check=False, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-4000:] + proc.stdout[-4000:]
    return proc.returncode, json.loads(out.read_text())


def results_by(report: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["host"], r["control_id"]): r for r in report["results"]}


def harden(lab: Lab, summary: Path, *extra: str, inventory: Path | None = None) -> tuple[int, dict[str, Any], str]:
    inv = inventory or lab.dir / "inventory.py"
    proc = run_cli("harden", str(inv), "--summary-json", str(summary), *extra, check=False, timeout=1800)
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return proc.returncode, data, proc.stderr + proc.stdout


def manifest_sha(lab: Lab, host: str, component: str) -> str:
    text = lab.sh(host, f"cat /etc/kubernetes/manifests/{component}.yaml")
    return hashlib.sha256(text.encode()).hexdigest()


def https_status(url: str) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_verify_reports_the_planted_weaknesses_as_fail(lab: Lab, tmp_path: Path) -> None:
    code, report = verify(lab, tmp_path / "before.json")
    assert code == 1
    results = results_by(report)
    for control in ("1.2.15", "1.2.16", "1.3.2", "1.4.1", "1.1.13", "1.2.1"):
        assert results[("cp1", control)]["status"] == "FAIL", results[("cp1", control)]
    for host in ("cp1", "w1"):  # the kubelet's files as kubeadm (and --weak) leave them, on every node
        for control in ("4.1.1", "4.1.5", "4.1.9"):
            assert results[(host, control)]["status"] == "FAIL", results[(host, control)]


def test_harden_then_every_control_of_the_issue_passes(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    started = time.monotonic()
    code, summary, output = harden(lab, tmp_path / "summary.json")
    state["hardened_at"] = time.monotonic()
    print(f"harden took {state['hardened_at'] - started:.0f}s")
    assert code == 0, output[-6000:]
    assert summary["hosts"]["cp1"]["changed"] and summary["hosts"]["cp2"]["changed"]
    code, report = verify(lab, tmp_path / "after.json")
    failing = [r for r in report["results"] if r["status"] == "FAIL"]
    assert code == 0 and not failing, json.dumps(failing, indent=1)[:6000]
    passed = {r["control_id"] for r in report["results"] if r["status"] == "PASS" and r["host"] == "cp1"}
    for control in ("1.2.1", "1.2.1-live", "1.2.15", "1.2.16", "1.2.17", "1.2.9", "1.3.2", "1.4.1", "2.2", "1.1.13"):
        assert control in passed
    worker = {r["control_id"] for r in report["results"] if r["status"] == "PASS" and r["host"] == "w1"}
    assert {"4.1.1", "4.1.5", "4.1.9"} <= worker, sorted(worker)
    changed_w1 = [name for run in summary.get("passes", [summary]) for name in run["hosts"]["w1"]["changed"]]
    assert changed_w1 and all(  # each host's own operation names (pyinfra's API merges them by number)
        name.startswith(("kubeharden: firewall | ", "kubeharden: node | ")) and ", kubeharden:" not in name
        for name in changed_w1
    ), changed_w1
    modes = lab.sh("w1", "stat -c '%a %U:%G %n' /var/lib/kubelet/config.yaml /etc/kubernetes/kubelet.conf "
                   "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf").splitlines()  # fmt: skip
    assert all(line.startswith("600 root:root ") for line in modes), modes
    state["apiserver"] = lab.pod_status("cp1", "kube-apiserver.yaml")


def test_anonymous_requests_get_401_while_the_probes_keep_passing(lab: Lab) -> None:
    cp1 = lab.record.spec.host("cp1").address
    assert https_status(f"https://{cp1}:6443/api") == 401
    assert https_status(f"https://{cp1}:6443/livez") == 200
    assert https_status(f"https://{cp1}:6443/readyz") == 200


def test_nothing_listens_on_8080_and_tls11_is_refused(lab: Lab) -> None:
    cp1 = lab.record.spec.host("cp1").address
    assert ":8080 " not in lab.sh("cp1", "ss -ltnH")
    with pytest.raises(OSError), socket.create_connection((cp1, 8080), timeout=5):
        pass
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError), socket.create_connection((cp1, 6443), timeout=5) as sock:
        ctx.wrap_socket(sock)
    # The same client with TLS 1.2 gets through: the refusal is about the version, not the connection.
    ctx12 = ssl.create_default_context()
    ctx12.check_hostname, ctx12.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((cp1, 6443), timeout=5) as sock, ctx12.wrap_socket(sock) as tls:
        assert tls.version() in ("TLSv1.2", "TLSv1.3")


def test_etcd_refuses_a_client_without_a_certificate(lab: Lab) -> None:
    out = lab.sh(
        "cp1",
        'curl -s --max-time 5 --cacert /etc/kubernetes/pki/etcd/ca.crt https://127.0.0.1:2379/health; echo " rc=$?"',
    )
    assert '"health":"true"' not in out
    ok = lab.sh(
        "cp1",
        "curl -s --max-time 5 --cacert /etc/kubernetes/pki/etcd/ca.crt"
        " --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt"
        " --key /etc/kubernetes/pki/etcd/healthcheck-client.key https://127.0.0.1:2379/health",
    )
    assert '"health":"true"' in ok


def test_kubectl_with_admin_conf_works_and_the_audit_log_fills(lab: Lab) -> None:
    assert "kube-system" in lab.kubectl("cp1", "get namespaces")
    wait_for(
        "audit entries in /var/log/kubernetes/audit/audit.log",
        lambda: '"kind":"Event"' in lab.sh("cp1", "tail -n 5 /var/log/kubernetes/audit/audit.log 2>/dev/null || true"),
        timeout=60,
    )


def test_the_kubeadm_config_configmap_carries_the_settings(lab: Lab) -> None:
    cfg = lab.kubectl("cp1", "-n kube-system get configmap kubeadm-config -o jsonpath={.data.ClusterConfiguration}")
    for needle in ("profiling", "audit-log-path", "authentication-config", "tls-min-version", "extraVolumes"):
        assert needle in cfg, needle


def test_a_second_harden_changes_nothing(lab: Lab, tmp_path: Path) -> None:
    before = {h.name: manifest_sha(lab, h.name, "kube-apiserver") for h in lab.record.spec.control_planes}
    code, summary, output = harden(lab, tmp_path / "again.json")
    assert code == 0, output[-4000:]
    assert summary["changed"] is False, json.dumps(summary, indent=1)
    assert all(not h["changed"] for h in summary["hosts"].values())
    after = {h.name: manifest_sha(lab, h.name, "kube-apiserver") for h in lab.record.spec.control_planes}
    assert before == after


def test_the_apiserver_is_not_in_a_restart_loop_for_two_minutes(lab: Lab, state: dict[str, Any]) -> None:
    """Watch the runner's view of kube-apiserver for two minutes after hardening: same process, no restart."""
    first = state["apiserver"]
    assert first and first["pid"], first
    deadline = state["hardened_at"] + 125
    while time.monotonic() < deadline:
        now = lab.pod_status("cp1", "kube-apiserver.yaml")
        assert now and now["pid"] == first["pid"] and now["restarts"] == first["restarts"], now
        assert now["liveness_failures_total"] == first["liveness_failures_total"], now
        time.sleep(5)
    final = lab.pod_status("cp1", "kube-apiserver.yaml")
    assert final and final["state"] == "running" and final["started"] and final["ready"], final
    assert https_status(f"https://{lab.record.spec.host('cp1').address}:6443/livez") == 200


def test_crash_drill_rolls_back_and_stops_the_rollout(lab: Lab, tmp_path: Path) -> None:
    """A profile that makes kube-apiserver fail: cp1 is restored, cp2 is never touched, the run names the cause.

    A flag that weakens a control never gets that far: it is refused before any host is contacted."""
    inventory_dir = tmp_path / "drill"
    (inventory_dir / "group_data").mkdir(parents=True)
    shutil.copy(lab.dir / "inventory.py", inventory_dir / "inventory.py")
    extra = inventory_dir / "group_data" / "control_plane.py"
    extra.write_text('kubeharden_apiserver_extra_args = {"--tls-min-version": "VersionTLS99"}\n')
    code, _summary, output = harden(lab, tmp_path / "refused.json", inventory=inventory_dir / "inventory.py")
    assert code == 2 and "KH-API-TLS" in output and "no host was contacted" in output, output[-3000:]
    extra.write_text('kubeharden_apiserver_extra_args = {"--event-ttl": "forever"}\nkubeharden_health_timeout = 60\n')
    cp1_before = manifest_sha(lab, "cp1", "kube-apiserver")
    cp2_before = {c: manifest_sha(lab, "cp2", c) for c in ("kube-apiserver", "etcd", "kube-scheduler")}
    code, summary, output = harden(lab, tmp_path / "drill.json", inventory=inventory_dir / "inventory.py")
    assert code == 1, output[-4000:]
    assert summary["failed_host"] == "cp1"
    assert "forever" in summary["error"] or "invalid" in summary["error"].lower(), summary["error"]
    component = summary["hosts"]["cp1"]["components"][-1]
    assert component["restored"] is True
    # The gate read the component's own exit in its log: it gave up long before the 60 s timeout.
    assert component["failed_after"] is not None and component["failed_after"] <= 30, component
    print(f"crash drill: gave up {component['failed_after']} s after the write, {component['seconds']} s in all")
    assert manifest_sha(lab, "cp1", "kube-apiserver") == cp1_before
    assert lab.kubectl("cp1", "get --raw /readyz").strip() == "ok"
    assert {c: manifest_sha(lab, "cp2", c) for c in cp2_before} == cp2_before
    assert not summary["hosts"]["cp2"]["changed"] and summary["hosts"]["cp2"]["status"] == "not touched"
    backups = lab.sh("cp1", "ls /var/backups/kubeharden")
    assert "kube-apiserver.yaml" in backups
    # Backups never land in the manifests directory (the kubelet would run them).
    assert lab.sh("cp1", "ls -A /etc/kubernetes/manifests").split() == [
        "etcd.yaml", "kube-apiserver.yaml", "kube-controller-manager.yaml", "kube-scheduler.yaml"
    ]  # fmt: skip
