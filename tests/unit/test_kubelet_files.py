"""The kubelet's files on every node (CIS 4.1): judged on workers and control planes, fixed by harden's plan on
both, and never restarted for it. A worker with kubeadm's own modes (config.yaml 644, unit 644) FAILs until planned."""

from __future__ import annotations

from kubeharden.core.catalog import by_id
from kubeharden.core.catalog.kubelet_files import KUBELET_CONFIG, KUBELET_KUBECONFIG, KUBELET_UNIT_GLOBS
from kubeharden.core.judge import judge_host
from kubeharden.core.profile_checks import validate_inventory
from kubeharden.core.results import Status
from kubeharden.core.runplan import Target, plan_run
from kubeharden.core.state import FileStat, HostState

ADMIN = {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"], "ssh_strict_host_key_checking": "yes"}
DROPIN = "/usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf"
UNIT = "/usr/lib/systemd/system/kubelet.service"


def worker(modes: dict[str, int]) -> HostState:
    """A worker as kubeadm's join leaves it: the files with these modes, root-owned."""
    files = {path: FileStat(path, True, mode, "root", "root", "file") for path, mode in modes.items()}
    files["/etc/kubernetes/pki/ca.crt"] = FileStat("/etc/kubernetes/pki/ca.crt", True, 0o644, "root", "root", "file")
    globs = {pattern: [] for pattern in KUBELET_UNIT_GLOBS}
    globs["/usr/lib/systemd/system/kubelet.service"] = [UNIT] if UNIT in modes else []
    globs["/usr/lib/systemd/system/kubelet.service.d/*.conf"] = [DROPIN] if DROPIN in modes else []
    return HostState("w1", "workers", "192.0.2.20", files=files, globs=globs)


def statuses(state: HostState) -> dict[str, Status]:
    return {r.control_id: r.status for r in judge_host(state) if r.control_id.startswith("4.1.")}


KUBEADM = {UNIT: 0o644, DROPIN: 0o644, KUBELET_KUBECONFIG: 0o600, KUBELET_CONFIG: 0o644}


def test_kubeadms_own_modes_fail_on_a_worker_and_tight_ones_pass() -> None:
    assert statuses(worker(KUBEADM)) == {
        "4.1.1": Status.FAIL, "4.1.5": Status.PASS, "4.1.7": Status.PASS, "4.1.9": Status.FAIL,
    }  # fmt: skip
    tight = {path: 0o600 for path in KUBEADM}
    assert set(statuses(worker(tight)).values()) == {Status.PASS}


def test_a_host_without_a_kubelet_unit_anywhere_skips_4_1_1() -> None:
    state = worker({KUBELET_KUBECONFIG: 0o600, KUBELET_CONFIG: 0o600})
    assert statuses(state)["4.1.1"] is Status.SKIP


def test_harden_plans_the_worker_files_and_only_those_that_are_loose() -> None:
    hosts = {
        "cp1": (["control_plane"], {**ADMIN, "ssh_hostname": "192.0.2.1"}),
        "w1": (["workers"], {**ADMIN, "ssh_hostname": "192.0.2.20"}),
    }
    profiles = validate_inventory(hosts)
    target = Target("w1", "workers", ("workers",), hosts["w1"][1], profiles["w1"])
    run = plan_run([target], {"w1": worker(KUBEADM)})
    assert not run.problems, run.problems
    planned = {(m.control_id, m.path, m.mode) for m in run.hosts["w1"].file_modes}
    assert planned >= {("4.1.1", UNIT, 0o600), ("4.1.1", DROPIN, 0o600), ("4.1.9", KUBELET_CONFIG, 0o600)}
    kubelet_ids = {cid for cid, control in by_id().items() if control.area == "kubelet"}
    assert {m.control_id for m in run.hosts["w1"].file_modes} <= kubelet_ids
    waived = {**ADMIN, "kubeharden_kubelet_enabled": False, "kubeharden_waivers": {"kubelet": "image-managed"}}
    off = validate_inventory({**hosts, "w1": (["workers"], waived)})
    target_off = Target("w1", "workers", ("workers",), hosts["w1"][1], off["w1"])
    assert plan_run([target_off], {"w1": worker(KUBEADM)}).hosts["w1"].file_modes == []
    only_firewall = plan_run([target], {"w1": worker(KUBEADM)}, selection=["firewall"])
    assert only_firewall.hosts["w1"].file_modes == []
