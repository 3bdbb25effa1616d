"""The per-role nftables firewall on a real lab (its own, module-scoped; 2 control planes, 2 workers).

Reachability is tested from the hosts themselves (`nc -z` inside them) and from this machine, which is the lab's
only admin address; the control plane keeps working; verify judges the firewall controls; a second run changes
nothing; a rule in another nftables table survives; and a lockout drill (admin CIDRs without this machine) cuts
SSH, the host restores its previous ruleset by itself, and the time it takes is measured. The steps build on each
other, so the tests of this module run in order on one lab.
"""

from __future__ import annotations

import json
import shlex
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubeharden.core.firewall import normalise_loaded

from .conftest import KUBEHARDEN, REPO, Lab, run_cli, running_lab, wait_for

OTHER_TABLE = "nft add table inet other && nft add chain inet other keep && nft add rule inet other keep counter accept"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("fwlab"), "f", control_planes=2, workers=2, weak=False) as made:
        yield made


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the ordered steps hand to each other."""
    return {}


def addr(lab: Lab, name: str) -> str:
    return lab.record.spec.host(name).address


def reach(lab: Lab, source: str, target: str, port: int) -> bool:
    """A TCP connection from inside host `source` to `target`:`port` (netcat, 3 s)."""
    command = f"nc -z -w 3 {shlex.quote(addr(lab, target))} {port}"
    return lab.shell.run(source, command, check=False, timeout=30).returncode == 0


def reach_from_here(address: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def fresh_ssh(lab: Lab, name: str) -> bool:
    """A NEW SSH connection from this machine (no ControlMaster reuse)."""
    argv = ["ssh", "-F", str(lab.dir / "ssh_config"), "-o", "ControlMaster=no", "-o", "ControlPath=none"]
    argv += ["-o", "ConnectTimeout=3", name, "true"]
    return subprocess.run(argv, capture_output=True, timeout=30, check=False).returncode == 0


def harden(inventory: Path, summary: Path, *extra: str) -> tuple[int, dict[str, Any], str, float]:
    started = time.monotonic()
    proc = run_cli("harden", str(inventory), "--only", "firewall", "--summary-json", str(summary), *extra, check=False)
    took = time.monotonic() - started
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return proc.returncode, data, proc.stderr + proc.stdout, took


def loaded_digest(lab: Lab, host: str) -> str | None:
    return normalise_loaded(lab.sh(host, "nft -j list table inet kubeharden 2>/dev/null || true") or None)


def test_without_the_firewall_everything_is_reachable(lab: Lab) -> None:
    """The baseline that makes the matrix below mean something: the ports are open before the firewall."""
    assert reach(lab, "w1", "cp1", 2379)
    assert reach(lab, "w2", "cp1", 22)
    for host in ("cp1", "w1"):
        lab.sh(host, OTHER_TABLE)


def test_the_first_run_loads_and_confirms_the_firewall(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    code, summary, output, took = harden(lab.dir / "inventory.py", tmp_path / "first.json")
    print(f"first firewall run took {took:.1f}s")
    assert code == 0, output[-6000:]
    for host in ("cp1", "cp2", "w1", "w2"):
        assert summary["hosts"][host]["changed"], summary
        result = summary["hosts"][host]["components"][-1]
        assert result["component"] == "firewall" and result["ok"] and result["confirmed"], result
        assert "policy drop" in lab.sh(host, "nft list chain inet kubeharden input")
        assert lab.sh(host, "stat -c %a /etc/nftables.d/kubeharden.nft").strip() == "600"
        assert lab.sh(host, "systemctl is-enabled nftables.service").strip() == "enabled"
        assert 'include "/etc/nftables.d/kubeharden.nft"' in lab.sh(host, "cat /etc/nftables.conf")
        assert lab.sh(host, "systemctl is-active kubeharden-fw-revert.timer || true").strip() != "active"
    state["digests"] = {h: loaded_digest(lab, h) for h in ("cp1", "cp2", "w1", "w2")}


def test_reachability_matrix_from_the_hosts(lab: Lab) -> None:
    assert not reach(lab, "w1", "cp1", 2379), "etcd must be closed to workers"
    assert reach(lab, "w1", "cp1", 6443), "the API server must be open to the nodes"
    assert reach(lab, "cp2", "cp1", 2379) and reach(lab, "cp2", "cp1", 2380), "etcd must be open between members"
    assert not reach(lab, "w2", "cp1", 22), "SSH must be closed to hosts outside the admin CIDRs"
    assert not reach(lab, "cp2", "cp1", 22), "SSH must be closed to hosts outside the admin CIDRs"
    for port in (10257, 10259):
        assert not reach(lab, "cp2", "cp1", port)


def test_reachability_from_the_admin_address(lab: Lab) -> None:
    for host in ("cp1", "cp2", "w1"):
        assert reach_from_here(addr(lab, host), 22)
        assert fresh_ssh(lab, host)
    assert reach_from_here(addr(lab, "cp1"), 6443)
    assert not reach_from_here(addr(lab, "cp1"), 2379), "etcd is for the control plane only"


def test_kubelet_port_is_open_from_the_control_plane_only(lab: Lab) -> None:
    """Nothing listens on 10250 in the lab (no kubelet), so the test starts a listener in w1 for itself."""
    pid = lab.sh("w1", "setsid nc -l -k 10250 </dev/null >/dev/null 2>&1 & echo $!").strip()
    try:
        wait_for("a listener on w1:10250", lambda: ":10250 " in lab.sh("w1", "ss -ltnH"), timeout=30)
        assert reach(lab, "cp1", "w1", 10250)
        assert not reach(lab, "w2", "w1", 10250)
    finally:
        lab.sh("w1", f"kill {shlex.quote(pid)} 2>/dev/null || true")


def test_the_control_plane_still_works(lab: Lab) -> None:
    for host in ("cp1", "cp2"):
        assert lab.kubectl(host, "get --raw /readyz").strip() == "ok"
    pki = "/etc/kubernetes/pki/etcd"
    for source, target in (("cp1", "cp2"), ("cp2", "cp1")):
        out = lab.sh(
            source,
            f"curl -s --max-time 10 --cacert {pki}/ca.crt --cert {pki}/healthcheck-client.crt"
            f" --key {pki}/healthcheck-client.key https://{addr(lab, target)}:2379/health",
        )
        assert '"health":"true"' in out, (source, target, out)


def test_verify_judges_the_firewall_controls(lab: Lab, tmp_path: Path) -> None:
    out = tmp_path / "verify.json"
    proc = run_cli("verify", str(lab.dir / "inventory.py"), "--json", str(out), check=False, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr[-4000:]
    results = {(r["host"], r["control_id"]): r for r in json.loads(out.read_text())["results"]}
    for host in ("cp1", "cp2", "w1", "w2"):
        for control in ("KH-FW-TABLE", "KH-FW-PERSIST", "KH-FW-live"):
            assert results[(host, control)]["status"] == "PASS", results[(host, control)]


def test_a_second_run_changes_nothing(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    code, summary, output, took = harden(lab.dir / "inventory.py", tmp_path / "second.json")
    print(f"second firewall run took {took:.1f}s")
    assert code == 0, output[-4000:]
    assert summary["changed"] is False, json.dumps(summary, indent=1)
    assert {h: loaded_digest(lab, h) for h in state["digests"]} == state["digests"]


def test_a_rule_by_hand_in_our_table_is_a_change_and_is_undone(lab: Lab, tmp_path: Path) -> None:
    lab.sh("w2", "nft add rule inet kubeharden input tcp dport 4444 accept")
    code, summary, output, _ = harden(lab.dir / "inventory.py", tmp_path / "drift.json")
    assert code == 0, output[-4000:]
    assert summary["hosts"]["w2"]["changed"] and not summary["hosts"]["w1"]["changed"]
    assert "4444" not in lab.sh("w2", "nft list table inet kubeharden")


def test_lockout_drill_the_host_restores_itself(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    """Admin CIDRs without this machine: the new ruleset cuts new SSH connections, the confirmation fails, and the
    host's own timer restores the previous ruleset; measured from the moment the cut is seen."""
    drill = tmp_path / "drill"
    drill.mkdir()
    admin = f"{lab.record.spec.gateway}/32"
    text = (lab.dir / "inventory.py").read_text()
    assert text.count(admin) == 4
    (drill / "inventory.py").write_text(text.replace(admin, "192.0.2.77/32"))
    before = {h: loaded_digest(lab, h) for h in ("cp1", "cp2", "w1", "w2")}
    persisted = lab.sh("cp1", "sha256sum /etc/nftables.d/kubeharden.nft")
    summary_path = tmp_path / "drill.json"
    started = time.monotonic()
    proc = subprocess.Popen(
        [*KUBEHARDEN, "harden", str(drill / "inventory.py"), "--only", "firewall", "--summary-json", str(summary_path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    cut: tuple[str, float] | None = None
    restored_at: float | None = None
    try:
        while proc.poll() is None and time.monotonic() - started < 240:
            if cut is None:
                for host in ("cp1", "cp2", "w1", "w2"):
                    if not reach_from_here(addr(lab, host), 22, timeout=1.0):
                        cut = (host, time.monotonic())
                        break
            elif restored_at is None and reach_from_here(addr(lab, cut[0]), 22, timeout=1.0):
                restored_at = time.monotonic()
            time.sleep(0.5)
        output, _ = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    total = time.monotonic() - started
    assert cut is not None, "the drill never cut SSH: " + output[-3000:]
    host, cut_at = cut
    if restored_at is None:
        back = addr(lab, host)
        restored_at = wait_for(f"SSH to {host} again", lambda: reach_from_here(back, 22) and time.monotonic())
    print(f"lockout drill: {host} cut {cut_at - started:.1f}s into the run, SSH back {restored_at - cut_at:.1f}s later")
    print(f"lockout drill: the run took {total:.1f}s")
    assert proc.returncode == 1, output[-4000:]
    summary = json.loads(summary_path.read_text())
    assert summary["failed_host"] == host
    assert "no confirmation over a new SSH connection" in summary["error"]
    assert "kubeharden_firewall_admin_cidrs" in output
    result = summary["hosts"][host]["components"][-1]
    assert result["restored"] is True and result["restored_after_seconds"] <= 60, result
    assert restored_at - cut_at <= 60
    assert fresh_ssh(lab, host)
    assert {h: loaded_digest(lab, h) for h in before} == before, "the previous ruleset is back, others untouched"
    assert lab.sh("cp1", "sha256sum /etc/nftables.d/kubeharden.nft") == persisted, "nothing was persisted"
    code, again, out, _ = harden(lab.dir / "inventory.py", tmp_path / "after-drill.json")
    assert code == 0 and again["changed"] is False, out[-3000:]


def test_the_other_table_survived_every_run(lab: Lab) -> None:
    for host in ("cp1", "w1"):
        listed = lab.sh(host, "nft list table inet other")
        assert "chain keep" in listed and "counter" in listed and "accept" in listed
