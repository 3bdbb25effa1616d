"""The machine-wide inotify budget a lab needs, checked before `lab up` boots anything.

`fs.inotify.max_user_instances` (128 by default) is shared by every process of root on the WHOLE machine: each lab
host's systemd and each kube process takes instances, and user namespaces do not help (instances are charged to
their creator). When it runs out, hosts half-boot ("Too many open files" in systemd, sshd never starting). The
figures are measured (docs/kubelet-in-lab.md, "the machine-wide inotify budget"); the sysctl is never changed.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubeharden_lab.config import LabConfigError, LabSpec

PER_HOST = 8
"""A booted systemd host: systemd, journald, udevd, logind, dbus, getty (measured ~8)."""
PER_CONTROL_PLANE = 13
"""kube-apiserver (6) and kube-controller-manager (7) on a control plane."""
PER_KUBELET = 7
"""A kubelet (6) and containerd (1) on a host of a lab that runs them."""
MARGIN = 4
"""Head-room for what the tests run inside the hosts (kubectl, sshd sessions)."""


def needed(spec: LabSpec) -> int:
    """Instances the lab takes once up (an upper estimate)."""
    kubelets = len(spec.hosts) * PER_KUBELET if spec.kubelet else 0
    return len(spec.hosts) * PER_HOST + len(spec.control_planes) * PER_CONTROL_PLANE + kubelets + MARGIN


def limit(proc: Path = Path("/proc")) -> int:
    return int((proc / "sys/fs/inotify/max_user_instances").read_text().split()[0])


def in_use(proc: Path = Path("/proc")) -> int:
    """Open inotify instances charged to root: those of processes running as root and of every process in another
    user namespace (a container root made them). A shared instance counts once per process (a slight over-count)."""
    try:
        own_userns = os.readlink(proc / "self/ns/user")
    except OSError:
        own_userns = ""
    count = 0
    for pid_dir in proc.iterdir():
        if not pid_dir.name.isdigit():
            continue
        try:
            if not _charged_to_root(pid_dir, own_userns):
                continue
            count += sum(1 for fd in (pid_dir / "fd").iterdir() if _is_inotify(fd))
        except OSError:  # the process ended, or its fds are not ours to read
            continue
    return count


def _charged_to_root(pid_dir: Path, own_userns: str) -> bool:
    if own_userns and os.readlink(pid_dir / "ns/user") != own_userns:
        return True
    for line in (pid_dir / "status").read_text().splitlines():
        if line.startswith("Uid:"):
            return line.split()[1] == "0"
    return False


def _is_inotify(fd: Path) -> bool:
    try:
        return os.readlink(fd) == "anon_inode:inotify"
    except OSError:
        return False


def budget_problem(want: int, used: int, available: int) -> str | None:
    """The refusal, or None when the lab fits."""
    if used + want <= available:
        return None
    return (
        f"this lab needs about {want} inotify instances but only {max(available - used, 0)} of the machine's "
        f"{available} are free ({used} are in use by root's processes and other labs): fs.inotify.max_user_instances "
        "is shared by every host's systemd and kube process; remove other labs with `kubeharden lab down` or run "
        "fewer hosts (kubeharden never changes the machine's sysctls)"
    )


def check(spec: LabSpec, proc: Path = Path("/proc")) -> None:
    """Refuse, before anything boots, a lab that would run the machine out of inotify instances."""
    problem = budget_problem(needed(spec), in_use(proc), limit(proc))
    if problem:
        raise LabConfigError(problem)
