"""`kubeharden lab up|status|down`: make, inspect and remove a lab, recording every step in lab.json.

The record is written before anything is made, so `down` can remove a lab whose `up` was interrupted.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from kubeharden_lab import access, cluster, cluster_kubeadm, images, inotify, machines, node_runtime
from kubeharden_lab.binaries import LabBinaries, ensure_binaries
from kubeharden_lab.config import LabConfigError, LabHost, LabSpec, make_spec, subnet_for_index
from kubeharden_lab.inventory import render_inventory
from kubeharden_lab.kubeadm_config import KUBEADM_DROPIN, KUBELET_SERVICE, etc_hosts
from kubeharden_lab.rootfs import ensure_rootfs

STATE_ROOT = Path(os.environ.get("KUBEHARDEN_LAB_STATE", "/var/lib/kubeharden/labs"))
RUNNER_UNIT = "kubeharden-lab-static-pods.service"
NODE_PREP_UNIT = "kubeharden-lab-node.service"
GUEST_LIB = "usr/local/lib/kubeharden-lab"


@dataclass
class LabRecord:
    """lab.json: the spec, where its hosts live, their nspawn PIDs and how far `up` got."""

    spec: LabSpec
    runtime_dir: str
    phase: str = "created"
    pids: dict[str, int] = field(default_factory=dict)

    def save(self, lab_dir: Path) -> None:
        data = {
            "spec": self.spec.to_dict(),
            "runtime_dir": self.runtime_dir,
            "phase": self.phase,
            "pids": self.pids,
        }
        tmp = lab_dir / "lab.json.tmp"
        tmp.write_text(json.dumps(data, indent=2) + "\n")
        tmp.replace(lab_dir / "lab.json")

    @classmethod
    def load(cls, lab_dir: Path) -> LabRecord | None:
        path = lab_dir / "lab.json"
        if not path.exists():
            return None
        data = json.loads(path.read_text())
        return cls(LabSpec.from_dict(data["spec"]), data["runtime_dir"], data["phase"], data["pids"])


@contextmanager
def _machine_lock() -> Iterator[None]:
    """Serialise subnet allocation between labs started at the same time."""
    Path("/run/kubeharden").mkdir(parents=True, exist_ok=True)
    with open("/run/kubeharden/labs.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _free_subnet(reserved: set[str]) -> str:
    used = machines.subnets_in_use() | reserved
    for index in range(0, 256):
        candidate = subnet_for_index(index)
        if candidate not in used:
            return candidate
    raise LabConfigError("no free /24 left in 10.231.0.0/16 for another lab")


def _reserved_subnets() -> set[str]:
    """Subnets of labs recorded on this machine but whose bridge may not exist yet."""
    found = set()
    for record in STATE_ROOT.glob("*/subnet"):
        try:
            found.add(record.read_text().strip())
        except OSError:
            continue
    return found


def _guest_file(name: str) -> str:
    return resources.files("kubeharden_lab.guest").joinpath(name).read_text()


def _link(upper: Path, rel: str, target: str) -> None:
    link = upper / rel
    link.parent.mkdir(parents=True, exist_ok=True)
    if not link.is_symlink():
        link.symlink_to(target)


def _prepare_kubelet_host(
    spec: LabSpec, host: LabHost, upper: Path, binaries: LabBinaries, sandbox_image: str, put: Any
) -> None:
    """A host that runs a real kubelet: containerd configured for an nspawn host, a bridge CNI, the kubelet binary
    where kubeadm's unit runs it, the unit enabled as a package would leave it."""
    put("etc/containerd/config.toml", node_runtime.containerd_config(sandbox_image))
    put("etc/cni/net.d/10-kubeharden-lab.conflist", node_runtime.cni_conflist(spec, host))
    _link(upper, "usr/bin/kubelet", f"{machines.GUEST_BIN}/{binaries.k8s_dir.name}/kubelet")
    _link(
        upper, "etc/systemd/system/multi-user.target.wants/kubelet.service", "/usr/lib/systemd/system/kubelet.service"
    )


def _prepare_upper(
    spec: LabSpec, host: LabHost, upper: Path, pubkey: str, binaries: LabBinaries, sandbox_image: str = ""
) -> None:
    """Files a host has before its first boot: identity, access, kubelet packaging, and either the real kubelet's
    runtime or the static-pod runner."""

    def put(rel: str, text: str, mode: int = 0o644) -> None:
        path = upper / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    put("etc/hostname", host.name + "\n")
    put("etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
    put("etc/hosts", etc_hosts(spec))
    (upper / "root/.ssh").mkdir(parents=True, exist_ok=True, mode=0o700)
    put("root/.ssh/authorized_keys", pubkey, 0o600)
    for script in ("weaken.py", "pods_current.py", "etcd_join.py", "kubelet_pods_current.py"):
        put(f"{GUEST_LIB}/{script}", _guest_file(script))
    # every host (with or without a kubelet): writable copies of the kernel settings a kubelet writes, so harden's
    # sysctl file for protectKernelDefaults applies as on a real node; cgroups and /dev/kmsg for a kubelet
    put(f"{GUEST_LIB}/node_prep.sh", _guest_file("node_prep.sh"), 0o755)
    put(f"etc/systemd/system/{NODE_PREP_UNIT}", _guest_file(NODE_PREP_UNIT))
    _link(
        upper, f"etc/systemd/system/multi-user.target.wants/{NODE_PREP_UNIT}", f"/etc/systemd/system/{NODE_PREP_UNIT}"
    )
    if spec.kubelet:
        _prepare_kubelet_host(spec, host, upper, binaries, sandbox_image, put)
    else:
        put(f"{GUEST_LIB}/static_pod_runner.py", _guest_file("static_pod_runner.py"))
        put(f"etc/systemd/system/{RUNNER_UNIT}", _guest_file(RUNNER_UNIT))
        _link(upper, f"etc/systemd/system/multi-user.target.wants/{RUNNER_UNIT}", f"/etc/systemd/system/{RUNNER_UNIT}")
        _link(upper, "etc/systemd/system/containerd.service", "/dev/null")  # no kubelet: no runtime either
    put("etc/kubeharden-lab/node.json", json.dumps({"node_ip": host.address, "lab": spec.name}) + "\n")
    put("usr/lib/systemd/system/kubelet.service", KUBELET_SERVICE)
    put("usr/lib/systemd/system/kubelet.service.d/10-kubeadm.conf", KUBEADM_DROPIN)
    (upper / "etc/kubernetes/manifests").mkdir(parents=True, exist_ok=True)
    bindir = upper / "usr/local/bin"
    bindir.mkdir(parents=True, exist_ok=True)
    for command in ("kubeadm", "kubectl", "etcdctl"):
        link = bindir / command
        if not link.is_symlink():
            link.symlink_to(f"{machines.GUEST_BIN}/{binaries.path(command).parent.name}/{command}")


def lab_up(
    lab_dir: Path,
    name: str,
    control_planes: int,
    workers: int,
    weak: bool,
    k8s_version: str,
    kubelet: bool = False,
) -> LabRecord:
    """Make the lab (or find it already up); idempotent."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    lab_dir.chmod(0o700)
    record = LabRecord.load(lab_dir)
    if record is not None:
        want = make_spec(name, record.spec.subnet, k8s_version, control_planes, workers, weak, kubelet)
        if record.spec != want:
            raise LabConfigError(
                f"a different lab is recorded in {lab_dir} (lab {record.spec.name!r}, "
                f"{len(record.spec.control_planes)} control planes, {len(record.spec.workers)} workers, "
                f"weak={record.spec.weak}); run `kubeharden lab down --dir {lab_dir}` first"
            )
        if record.phase == "ready" and _all_running(record):
            cluster.progress(f"lab {name} is already up")
            _write_inventory(record, lab_dir)
            return record
        cluster.progress(f"lab {name} was left half-made (phase {record.phase}); removing it and starting again")
        lab_down(lab_dir)

    binaries = ensure_binaries(k8s_version)
    base = ensure_rootfs()
    image_dir = images.ensure_images(binaries) if kubelet else None
    archives = images.archives(image_dir) if image_dir is not None else {}
    sandbox = next((tag for tag in archives.values() if "/pause:" in tag), "")
    with _machine_lock():
        subnet = _free_subnet(_reserved_subnets())
        spec = make_spec(name, subnet, binaries.k8s_version, control_planes, workers, weak, kubelet)
        inotify.check(spec)
        runtime = STATE_ROOT / name
        if runtime.exists() and machines.lab_pids(name):
            raise LabConfigError(f"a lab named {name!r} is already running from another directory; pick another --name")
        shutil.rmtree(runtime, ignore_errors=True)
        runtime.mkdir(parents=True)
        (runtime / "subnet").write_text(subnet + "\n")
        record = LabRecord(spec, str(runtime))
        record.save(lab_dir)
        machines.ensure_bridge(spec)
    key = access.ensure_key(lab_dir)
    pubkey = (key.with_suffix(".pub")).read_text()
    started = time.monotonic()
    machines.record_cgroups(spec.name)
    for host in spec.hosts:
        machines.ensure_host_network(spec, host)
        hostdir = runtime / "hosts" / host.name
        _prepare_upper(spec, host, hostdir / "upper", pubkey, binaries, sandbox)
        bin_dirs = [binaries.k8s_dir, binaries.etcd_dir]
        record.pids[host.name] = machines.start_host(spec, host, base, hostdir, bin_dirs, image_dir)
        record.save(lab_dir)
        cluster.progress(f"{host.name}: booting ({host.address})")
    keys = {
        h: access.wait_for_ssh(h, runtime / "hosts" / h.name / "upper", pid=record.pids[h.name]) for h in spec.hosts
    }
    access.write_known_hosts(lab_dir, keys)
    access.write_ssh_config(lab_dir, spec)
    record.phase = "booted"
    record.save(lab_dir)
    cluster.progress(f"{len(spec.hosts)} hosts answer SSH after {time.monotonic() - started:.1f}s")
    _write_inventory(record, lab_dir)

    shell = access.LabShell(lab_dir)
    if spec.kubelet:
        cluster_kubeadm.make_cluster(shell, spec, archives)
    else:
        first = spec.control_planes[0]
        cluster.init_first_control_plane(shell, spec, first)
        for host in spec.control_planes[1:]:
            cluster.join_control_plane(shell, spec, first, host)
        for host in spec.workers:
            cluster.write_kubelet_files(shell, spec, first, host)
    if weak:
        _weaken(shell, spec)
    record.phase = "ready"
    record.save(lab_dir)
    cluster.progress(f"lab {name} is up in {time.monotonic() - started:.0f}s; inventory: {lab_dir / 'inventory.py'}")
    return record


def _weaken(shell: access.LabShell, spec: LabSpec) -> None:
    """--weak: flags, files and the kubelet's config loosened on every host, then every control plane healthy again
    on its weakened manifests (with a real kubelet, restarted for its weakened config)."""
    for host in spec.hosts:
        cluster.progress(f"{host.name}: weakening (--weak)")
        shell.run(host.name, f"python3 /{GUEST_LIB}/weaken.py {host.role}")
        if spec.kubelet:
            shell.run(host.name, "systemctl restart kubelet")
    for host in spec.control_planes:
        if spec.kubelet:
            cluster_kubeadm.wait_pods_current(shell, host.name)
        else:
            cluster.wait_pods_current(shell, host.name)
        cluster.wait_etcd(shell, host.name)
        cluster.wait_apiserver(shell, host.name)
    if spec.kubelet:
        cluster_kubeadm.wait_nodes_ready(shell, spec)
        cluster_kubeadm.wait_mirror_pods(shell, spec)


def _write_inventory(record: LabRecord, lab_dir: Path) -> None:
    path = lab_dir / "inventory.py"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(render_inventory(record.spec, lab_dir))
    tmp.replace(path)


def _all_running(record: LabRecord) -> bool:
    pids = machines.lab_pids(record.spec.name)
    return all(pid in pids for pid in record.pids.values()) and len(record.pids) == len(record.spec.hosts)


def lab_status(lab_dir: Path) -> dict[str, Any]:
    """Per host: running or not, and what the static-pod runner reports about each pod."""
    record = LabRecord.load(lab_dir)
    if record is None:
        return {"lab": None, "hosts": {}}
    pids = machines.lab_pids(record.spec.name)
    shell = access.LabShell(lab_dir)
    hosts: dict[str, Any] = {}
    for host in record.spec.hosts:
        running = record.pids.get(host.name) in pids
        entry: dict[str, Any] = {"address": host.address, "role": host.role, "running": running, "pods": {}}
        if running and (lab_dir / "ssh_config").exists():
            res = shell.run(
                host.name,
                "cat /run/kubeharden-lab/pods/*.json 2>/dev/null | python3 -c "
                "'import json,sys; [print(json.dumps(json.loads(l))) for l in sys.stdin if l.strip()]'",
                check=False,
                timeout=20,
            )
            for line in res.stdout.splitlines():
                try:
                    pod = json.loads(line)
                except json.JSONDecodeError:
                    continue
                entry["pods"][pod.get("pod") or pod.get("manifest", "?")] = pod
        hosts[host.name] = entry
    return {"lab": record.spec.name, "subnet": record.spec.subnet, "phase": record.phase, "hosts": hosts}


def lab_down(lab_dir: Path) -> list[str]:
    """Remove everything the lab made. Returns what was left that could not be removed (empty: clean)."""
    record = LabRecord.load(lab_dir)
    if record is None:
        return []
    spec = record.spec
    if (lab_dir / "ssh_config").exists():
        try:
            access.LabShell(lab_dir).close(spec)
        except Exception:  # noqa: S110 -- a dead host's master connection is gone anyway
            pass
    # A host with a real kubelet takes ~78 s to power off (systemd waits on the apiserver's scope); nothing of a lab
    # being removed needs a clean shutdown, so those hosts get 10 s before SIGKILL.
    machines.stop_processes(spec.name, record.pids.values(), timeout=10.0 if spec.kubelet else 45.0)
    machines.remove_cgroups(spec.name)
    machines.remove_network(spec.name, [h.netns for h in spec.hosts], [h.veth for h in spec.hosts], spec.bridge)
    machines.remove_propagate_dirs(h.machine for h in spec.hosts)
    runtime = Path(record.runtime_dir)
    left = leftovers(spec, runtime)
    if not left:
        shutil.rmtree(runtime, ignore_errors=True)
        shutil.rmtree(access.control_dir(spec), ignore_errors=True)
        for name in ("lab.json", "inventory.py", "known_hosts", "ssh_config"):
            (lab_dir / name).unlink(missing_ok=True)
    return left


def leftovers(spec: LabSpec, runtime: Path) -> list[str]:
    """What of this lab still exists on the machine: namespaces, links, mounts, processes, cgroups."""
    left = []
    left += [f"network namespace {ns}" for ns in machines.netns_list() if ns.startswith(f"{spec.name}-")]
    left += [f"link {h.veth}" for h in spec.hosts if machines.link_exists(h.veth)]
    if machines.link_exists(spec.bridge):
        left.append(f"bridge {spec.bridge}")
    left += [f"mount {m}" for m in machines.lab_mounts([runtime])]
    left += [f"process {p}" for p in machines.lab_pids(spec.name)]
    left += [f"cgroup {d}" for d in machines.cgroup_dirs(spec.name) if d.exists()]
    return left
