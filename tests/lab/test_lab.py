"""The lab against its real parts: SSH with strict host keys, kubeadm's control plane, etcd over TLS, the runner."""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import testinfra
from kubeharden_lab import machines
from kubeharden_lab.manager import LabRecord, leftovers

from .conftest import REPO, Lab, run_cli, unique_lab_name, wait_for

ETCDCTL = (
    "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
    "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
)
EDIT_FLAGS = """
import sys, yaml
path, drop, add = sys.argv[1], sys.argv[2], sys.argv[3]
pod = yaml.safe_load(open(path))
c = pod["spec"]["containers"][0]
c["command"] = [a for a in c["command"] if not (drop and a.split("=")[0] in drop.split(","))]
c["command"] += [a for a in add.split(",") if a]
open(path + ".tmp", "w").write(yaml.safe_dump(pod, sort_keys=True))
import os; os.chmod(path + ".tmp", 0o600); os.replace(path + ".tmp", path)
"""


def edit_manifest(lab: Lab, host: str, component: str, drop: str = "", add: str = "") -> str:
    """Edit a manifest's flags in place on the host; returns the original text to restore it."""
    path = f"/etc/kubernetes/manifests/{component}.yaml"
    original = lab.sh(host, f"cat {path}")
    lab.shell.run(host, f"python3 - {path} {shlex.quote(drop)} {shlex.quote(add)}", stdin=EDIT_FLAGS)
    return original


def restore_manifest(lab: Lab, host: str, component: str, original: str) -> None:
    lab.shell.write(host, f"/etc/kubernetes/manifests/{component}.yaml", original, mode="0600")


def healthz(lab: Lab, host: str, port: int) -> bool:
    out = lab.sh(host, f"curl -sk --max-time 5 https://127.0.0.1:{port}/healthz || true")
    return out.strip() == "ok"


def test_every_host_answers_ssh_with_strict_host_key_checking(lab: Lab) -> None:
    config = (lab.dir / "ssh_config").read_text()
    assert config.count("StrictHostKeyChecking yes") == len(lab.record.spec.hosts)
    for h in lab.record.spec.hosts:
        host = testinfra.get_host(f"ssh://{h.name}", ssh_config=str(lab.dir / "ssh_config"))
        assert host.check_output("hostname") == h.name
        assert host.interface("eth0").addresses[0] == h.address


def test_a_wrong_host_key_is_refused(lab: Lab, tmp_path: Path) -> None:
    """Strictness proven: with another host's key recorded for cp1, the connection must fail."""
    lines = (lab.dir / "known_hosts").read_text().splitlines()
    keys = {line.split()[0].split(",")[0]: " ".join(line.split()[1:]) for line in lines}
    cp1 = lab.record.spec.host("cp1")
    (tmp_path / "known_hosts").write_text(f"{cp1.name},{cp1.address} {keys['w1']}\n")
    proc = subprocess.run(
        ["ssh", "-F", str(lab.dir / "ssh_config"), "-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
         "-o", "ControlMaster=no", "-o", "ControlPath=none", "cp1", "true"],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "host key" in proc.stderr.lower()


def test_pyinfra_reaches_every_host_of_the_lab_inventory(lab: Lab) -> None:
    inventory = lab.dir / "inventory.py"
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "pyinfra"), "-y", str(inventory), "exec", "--", "cat /etc/hostname"],
        capture_output=True, text=True, timeout=180, check=False, cwd=lab.dir,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:] + proc.stdout[-3000:]
    for h in lab.record.spec.hosts:
        assert re.search(rf"^\[{h.name}\]\s+{h.name}$", proc.stderr, re.MULTILINE), proc.stderr


def test_apiserver_is_ready_on_every_control_plane(lab: Lab) -> None:
    for h in lab.record.spec.control_planes:
        assert lab.kubectl(h.name, "get --raw /readyz").strip() == "ok"
    assert lab.kubectl("cp1", "version -o json").count("v1.34.4") >= 1


def test_etcd_answers_endpoint_health_over_tls_with_the_kubeadm_certs(lab: Lab) -> None:
    for h in lab.record.spec.control_planes:
        out = lab.sh(h.name, f"{ETCDCTL} endpoint health 2>&1")
        assert "is healthy" in out
    members = json.loads(lab.sh("cp1", f"{ETCDCTL} member list -w json"))["members"]
    assert sorted(m["name"] for m in members) == ["cp1", "cp2"]
    assert all(not m.get("isLearner") for m in members)
    # Without a client certificate etcd refuses the client (kubeadm turns on client-cert-auth).
    refused = lab.sh("cp1", "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
                     "--command-timeout=5s endpoint health 2>&1 || true")  # fmt: skip
    assert "is healthy" not in refused


def test_controller_manager_and_scheduler_answer_healthz(lab: Lab) -> None:
    for h in lab.record.spec.control_planes:
        assert healthz(lab, h.name, 10257)
        assert healthz(lab, h.name, 10259)


def test_kubeadm_wrote_the_cluster_the_way_it_does_on_a_real_node(lab: Lab) -> None:
    files = lab.sh("cp1", "ls /etc/kubernetes /etc/kubernetes/manifests /var/lib/kubelet")
    expected = ["admin.conf", "controller-manager.conf", "scheduler.conf", "kube-apiserver.yaml", "etcd.yaml"]
    expected += ["kube-controller-manager.yaml", "kube-scheduler.yaml", "config.yaml", "kubeadm-flags.env"]
    for name in expected:
        assert name in files
    cfg = lab.kubectl("cp1", "-n kube-system get configmap kubeadm-config -o jsonpath={.data.ClusterConfiguration}")
    assert "kubernetesVersion: v1.34.4" in cfg
    for w in lab.record.spec.workers:
        assert "kubelet.conf" in lab.sh(w.name, "ls /etc/kubernetes")
        assert "KubeletConfiguration" in lab.sh(w.name, "cat /var/lib/kubelet/config.yaml")
        assert "10-kubeadm.conf" in lab.sh(w.name, "ls /usr/lib/systemd/system/kubelet.service.d")


def test_weak_lab_carries_the_planted_weaknesses(lab: Lab) -> None:
    apiserver = lab.sh("cp1", "cat /etc/kubernetes/manifests/kube-apiserver.yaml")
    assert "--profiling=true" in apiserver
    assert "--anonymous-auth=true" in apiserver
    kubelet = lab.sh("w1", "cat /var/lib/kubelet/config.yaml")
    assert "readOnlyPort: 10255" in kubelet
    assert lab.sh("cp1", "stat -c %a /etc/kubernetes/admin.conf").strip() == "644"


def test_a_bogus_flag_makes_the_component_fail_and_restoring_brings_it_back(lab: Lab) -> None:
    before = lab.pod_status("cp1", "kube-scheduler.yaml")
    assert before and before["state"] == "running"
    original = edit_manifest(lab, "cp1", "kube-scheduler", add="--bogus-flag=1")
    try:
        failed = wait_for(
            "kube-scheduler to fail on the unknown flag",
            lambda: (
                (s := lab.pod_status("cp1", "kube-scheduler.yaml"))
                and "unknown flag: --bogus-flag" in (s.get("last_error") or "")
                and s
            ),
            timeout=90,
        )
        assert failed["state"] in ("backoff", "error", "starting")
        assert not healthz(lab, "cp1", 10259)
    finally:
        restore_manifest(lab, "cp1", "kube-scheduler", original)
    wait_for("kube-scheduler healthz after the restore", lambda: healthz(lab, "cp1", 10259), timeout=120)
    after = wait_for(
        "the runner to report the restored kube-scheduler running",
        lambda: (s := lab.pod_status("cp1", "kube-scheduler.yaml")) and s["state"] == "running" and s,
        timeout=120,
    )
    assert after["pid"] != before["pid"]


def test_a_file_outside_the_hostpath_volumes_is_not_visible_to_the_component(lab: Lab) -> None:
    """The file exists on the node, but not in any of the pod's volumes: the component must fail to read it."""
    lab.sh("cp1", "cp /etc/kubernetes/scheduler.conf /root/outside-scheduler.conf")
    original = edit_manifest(
        lab, "cp1", "kube-scheduler",
        drop="--kubeconfig,--authentication-kubeconfig,--authorization-kubeconfig",
        add="--kubeconfig=/root/outside-scheduler.conf,--authentication-kubeconfig=/root/outside-scheduler.conf,"
        "--authorization-kubeconfig=/root/outside-scheduler.conf",
    )  # fmt: skip
    try:
        wait_for(
            "kube-scheduler to fail on the unmounted file",
            lambda: (
                "/root/outside-scheduler.conf"
                in ((s := lab.pod_status("cp1", "kube-scheduler.yaml")) or {}).get("last_error", "")
                and "no such file" in s["last_error"]
            ),
            timeout=90,
        )
    finally:
        restore_manifest(lab, "cp1", "kube-scheduler", original)
        lab.sh("cp1", "rm -f /root/outside-scheduler.conf")
    wait_for("kube-scheduler healthz after the restore", lambda: healthz(lab, "cp1", 10259), timeout=120)


def test_a_failing_liveness_probe_is_a_restart_loop_like_on_a_real_node(lab: Lab) -> None:
    """docs/pitfalls.md: --anonymous-auth=false makes kubeadm's own probes get 401; the runner must restart the
    apiserver."""
    host = "cp2"
    path = "/etc/kubernetes/manifests/kube-apiserver.yaml"
    original = lab.sh(host, f"cat {path}")
    shorten = (
        "import sys,yaml,os; p=sys.argv[1]; pod=yaml.safe_load(open(p)); c=pod['spec']['containers'][0]\n"
        "c['command']=[a for a in c['command'] if not a.startswith('--anonymous-auth')]+['--anonymous-auth=false']\n"
        "c['startupProbe'].update(initialDelaySeconds=5, periodSeconds=3, failureThreshold=3)\n"
        "open(p+'.t','w').write(yaml.safe_dump(pod, sort_keys=True)); os.chmod(p+'.t',0o600); os.replace(p+'.t',p)\n"
    )
    lab.shell.run(host, f"python3 - {path}", stdin=shorten)
    try:
        looping = wait_for(
            "the runner to restart kube-apiserver after failed probes",
            lambda: (s := lab.pod_status(host, "kube-apiserver.yaml")) and s["restarts"] >= 1 and s,
            timeout=180,
        )
        assert "401" in looping["last_error"]
    finally:
        lab.shell.write(host, path, original, mode="0600")
    wait_for("cp2 apiserver ready again", lambda: lab.kubectl(host, "get --raw /readyz").strip() == "ok", 240, 3)


def test_lab_status_reports_every_pod_running(lab: Lab) -> None:
    def all_running() -> bool:
        status = json.loads(run_cli("lab", "status", "--dir", str(lab.dir), "--json").stdout)
        pods = status["hosts"]["cp1"]["pods"]
        wanted = {"kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"}
        return wanted <= set(pods) and all(pods[p]["state"] == "running" for p in wanted)

    wait_for("every control-plane pod of cp1 running", all_running, timeout=120, interval=3)


def test_lab_up_again_changes_nothing(lab: Lab) -> None:
    before = lab.pod_status("cp1", "kube-apiserver.yaml")
    started = time.monotonic()
    spec = lab.record.spec
    proc = run_cli("lab", "up", "--dir", str(lab.dir), "--name", spec.name, "--control-planes", "2",
                   "--workers", "2", "--weak")  # fmt: skip
    assert "already up" in proc.stderr
    assert time.monotonic() - started < 60
    after = lab.pod_status("cp1", "kube-apiserver.yaml")
    assert before and after and before["pid"] == after["pid"]


def test_an_interrupted_lab_runs_beside_this_one_and_down_leaves_nothing(lab: Lab, tmp_path: Path) -> None:
    """A second lab side by side, killed mid-`up`; `down` must still remove all of it."""
    other_dir = tmp_path / ".lab"
    name = unique_lab_name("x")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubeharden", "lab", "up", "--dir", str(other_dir), "--name", name,
         "--control-planes", "1", "--workers", "1"],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        try:

            def booted() -> bool:
                if proc.poll() is not None:  # `up` ended before kubeadm: show why instead of waiting
                    pytest.fail(f"the second lab's `up` exited {proc.returncode}: {proc.stderr.read()[-3000:]}")
                record = LabRecord.load(other_dir)
                return record is not None and record.phase == "booted"

            wait_for("the second lab to get as far as kubeadm", booted, timeout=300)
            record = LabRecord.load(other_dir)
            assert record is not None
            assert record.spec.subnet != lab.record.spec.subnet
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert machines.lab_pids(name), "the interrupted lab should still have running hosts before down"
        run_cli("lab", "down", "--dir", str(other_dir))
    finally:
        run_cli("lab", "down", "--dir", str(other_dir), check=False)  # also when an assertion above failed
    assert leftovers(record.spec, Path(record.runtime_dir)) == []
    assert not [ns for ns in machines.netns_list() if ns.startswith(f"{name}-")]
    assert not machines.link_exists(record.spec.bridge)
    assert not [h for h in record.spec.hosts if machines.link_exists(h.veth)]
    assert not machines.lab_mounts([Path(record.runtime_dir)])
    assert not Path(record.runtime_dir).exists()
    # The first lab was not touched.
    assert lab.kubectl("cp1", "get --raw /readyz").strip() == "ok"
