"""Lab hosts as systemd-nspawn containers, each in its own network namespace on the lab's bridge.

Every kernel object carries the lab's name, so `teardown` can find and remove all of them even after an
interrupted run: network namespaces, veths, the bridge, cgroup directories, nspawn's propagate directories
and the processes in the lab's cgroups. Only objects with this lab's name are ever touched.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from kubeharden_lab import cgroups
from kubeharden_lab.config import LabHost, LabSpec

GUEST_BIN = "/opt/kubeharden-lab/bin"


class LabError(RuntimeError):
    """A lab step failed; the message says which host and what happened."""


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def link_exists(name: str) -> bool:
    return _ip("link", "show", "dev", name, check=False).returncode == 0


def netns_list() -> list[str]:
    out = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def subnets_in_use() -> set[str]:
    """/24s of 10.231.x.0 already on some interface of this machine (another lab's bridge)."""
    out = _ip("-o", "-4", "addr", "show", check=False).stdout
    used = set()
    for line in out.splitlines():
        words = line.split()
        if "inet" in words:
            addr = words[words.index("inet") + 1]
            if addr.startswith("10.231."):
                used.add(".".join(addr.split(".")[:3]) + ".0/24")
    return used


def ensure_bridge(spec: LabSpec) -> None:
    if link_exists(spec.bridge):
        return
    _ip("link", "add", spec.bridge, "type", "bridge")
    _ip("link", "set", spec.bridge, "addrgenmode", "none")
    _ip("addr", "add", f"{spec.gateway}/{spec.prefixlen}", "dev", spec.bridge)
    _ip("link", "set", spec.bridge, "up")


def ensure_host_network(spec: LabSpec, host: LabHost) -> None:
    """One namespace and veth pair per host; the host's end is eth0 with its lab address."""
    if host.netns not in netns_list():
        _ip("netns", "add", host.netns)
    if not link_exists(host.veth):
        _ip("link", "add", host.veth, "type", "veth", "peer", "name", "eth0", "netns", host.netns)
        _ip("link", "set", host.veth, "addrgenmode", "none")
        _ip("link", "set", host.veth, "master", spec.bridge, "up")
        _ip("-n", host.netns, "link", "set", "lo", "up")
        _ip("-n", host.netns, "addr", "add", f"{host.address}/{spec.prefixlen}", "dev", "eth0")
        _ip("-n", host.netns, "link", "set", "eth0", "up")


CGROUP_RECORDS = Path("/run/kubeharden/cgroups")
"""Per lab, the cgroup directories its hosts were put in: `down` may run from a process whose own cgroup (the
path under which the lab's were made) differs from the one `up` ran in."""


def record_cgroups(lab: str) -> None:
    CGROUP_RECORDS.mkdir(parents=True, exist_ok=True)
    bases = [str(h.base(lab)) for h in cgroups.hierarchies()]
    tmp = CGROUP_RECORDS / f"{lab}.tmp"
    tmp.write_text("\n".join(sorted(set(bases) | set(map(str, _recorded(lab))))) + "\n")
    tmp.replace(CGROUP_RECORDS / lab)


def _recorded(lab: str) -> list[Path]:
    try:
        return [Path(line) for line in (CGROUP_RECORDS / lab).read_text().split() if line]
    except OSError:
        return []


def cgroup_dirs(lab: str, host: str | None = None) -> list[Path]:
    """The lab's cgroup directories in every hierarchy (the recorded ones and those this process would make)."""
    bases = list(dict.fromkeys([*_recorded(lab), *(h.base(lab) for h in cgroups.hierarchies())]))
    return [base / host if host else base for base in bases]


GUEST_IMAGES = "/opt/kubeharden-lab/images"


def boot_script(
    spec: LabSpec, host: LabHost, base: Path, hostdir: Path, bin_dirs: Iterable[Path], images: Path | None = None
) -> str:
    """The shell run under `unshare --mount`: own cgroups, own overlay, then nspawn --boot."""
    merged, upper, work = hostdir / "merged", hostdir / "upper", hostdir / "work"
    lines = ["set -e", *cgroups.enter_script(spec.name, host.name, cgroups.hierarchies())]
    lines.append(
        "mount -t overlay overlay -o "
        + shlex.quote(f"lowerdir={base},upperdir={upper},workdir={work}")
        + f" {shlex.quote(str(merged))}"
    )
    binds = [f"--bind-ro={d}:{GUEST_BIN}/{d.name}" for d in bin_dirs]
    if images is not None:
        binds.append(f"--bind-ro={images}:{GUEST_IMAGES}")
    if spec.kubelet:
        # runc creates a session keyring per container; nspawn's seccomp filter answers keyctl with EPERM
        binds.append("--system-call-filter=@keyring")
    nspawn = [
        "systemd-nspawn",
        "--quiet",
        "--boot",
        "--register=no",
        "--keep-unit",
        "--console=read-only",
        "--capability=CAP_NET_ADMIN",
        "-D",
        str(merged),
        "-M",
        host.machine,
        f"--network-namespace-path=/run/netns/{host.netns}",
        *binds,
    ]
    lines.append("export SYSTEMD_NSPAWN_API_VFS_WRITABLE=network")
    lines.append("exec " + " ".join(shlex.quote(a) for a in nspawn))
    return "\n".join(lines) + "\n"


def start_host(
    spec: LabSpec, host: LabHost, base: Path, hostdir: Path, bin_dirs: Iterable[Path], images: Path | None = None
) -> int:
    """Start one host in the background; returns the PID of its nspawn process."""
    for sub in ("merged", "upper", "work"):
        (hostdir / sub).mkdir(parents=True, exist_ok=True)
    for cg in cgroup_dirs(spec.name, host.name):
        if cg.exists() and _cgroup_pids(cg):
            raise LabError(f"host {host.name} of lab {spec.name} is already running (cgroup {cg} has processes)")
    script = boot_script(spec, host, base, hostdir, bin_dirs, images)
    log = open(hostdir / "console.log", "ab")  # noqa: SIM115 - handed to the child
    proc = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()
    return proc.pid


def _cgroup_pids(root: Path) -> set[int]:
    pids: set[int] = set()
    if not root.exists():
        return pids
    # os.walk, not rglob: cgroup directories vanish while hosts shut down, and os.walk skips those.
    for dirpath, _dirs, _files in os.walk(root):
        try:
            pids.update(int(p) for p in Path(dirpath, "cgroup.procs").read_text().split())
        except (OSError, ValueError):
            continue
    return pids


def lab_pids(lab: str) -> set[int]:
    """Every process in the lab's cgroups: the nspawn processes and everything inside the hosts."""
    pids: set[int] = set()
    for cg in cgroup_dirs(lab):
        pids |= _cgroup_pids(cg)
    return pids


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an ended nspawn whose parent has not reaped it yet)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def _reap(pids: Iterable[int]) -> None:
    """Collect exit statuses of lab processes that are our own children (no zombies left behind)."""
    for pid in pids:
        try:
            os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            pass


def stop_processes(lab: str, nspawn_pids: Iterable[int], timeout: float = 45.0) -> None:
    """Power the hosts off (SIGTERM to each nspawn), then SIGKILL whatever of the lab's is left."""
    recorded = set(nspawn_pids)
    in_lab = lab_pids(lab)
    targets = {p for p in in_lab if _comm(p) == "systemd-nspawn"} | (recorded & in_lab)
    for pid in targets:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        _reap(recorded)
        if not [p for p in lab_pids(lab) if process_alive(p)]:
            break
        time.sleep(0.3)
    for _ in range(20):
        left = [p for p in lab_pids(lab) if process_alive(p)]
        if not left:
            break
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
    _reap(recorded)


def remove_cgroups(lab: str) -> None:
    """Remove the lab's cgroup directories bottom-up (rmdir; cgroupfs does not allow rm -r)."""
    for cg in cgroup_dirs(lab):
        if not cg.exists():
            continue
        for dirpath, _dirs, _files in os.walk(cg, topdown=False):
            try:
                os.rmdir(dirpath)
            except OSError:
                pass
        try:
            cg.rmdir()
        except OSError:
            pass
        parent = cg.parent
        try:
            if parent.name == "kubeharden" and not any(p.is_dir() for p in parent.iterdir()):
                parent.rmdir()
        except OSError:
            pass
    if not any(cg.exists() for cg in cgroup_dirs(lab)):
        (CGROUP_RECORDS / lab).unlink(missing_ok=True)


def remove_network(spec_name: str, host_netns: Iterable[str], veths: Iterable[str], bridge: str) -> None:
    for veth in veths:
        if link_exists(veth):
            _ip("link", "del", veth, check=False)
    for ns in host_netns:
        if ns in netns_list():
            _ip("netns", "del", ns, check=False)
    # Namespaces named after this lab that an interrupted run recorded nowhere.
    for ns in netns_list():
        if ns.startswith(f"{spec_name}-"):
            _ip("netns", "del", ns, check=False)
    if link_exists(bridge):
        _ip("link", "del", bridge, check=False)


def remove_propagate_dirs(machines: Iterable[str]) -> None:
    """nspawn cannot remove /run/systemd/nspawn/propagate/<machine> when /run is not a tmpfs."""
    for machine in machines:
        shutil.rmtree(Path("/run/systemd/nspawn/propagate") / machine, ignore_errors=True)


def lab_mounts(paths: Iterable[Path]) -> list[str]:
    """Mount points of this machine under the given directories (there should be none: overlays are private)."""
    prefixes = [str(p) for p in paths]
    found = []
    with open("/proc/self/mountinfo") as fh:
        for line in fh:
            mountpoint = line.split()[4]
            if any(mountpoint.startswith(p) for p in prefixes):
                found.append(mountpoint)
    return found
