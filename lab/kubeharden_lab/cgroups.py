"""The cgroup hierarchies a lab host gets a directory of its own in: every one this process is in.

A kubelet in a host creates kubepods.slice in every v1 controller (cpuset, memory, pids, ...). nspawn mounts those
read-only, and a host left in the machine's root cgroup of a hierarchy would then write into the machine's own
tree. So each host's launcher moves itself into ``<own path>/kubeharden/<lab>/<host>`` in EVERY hierarchy listed in
/proc/self/cgroup (under the launcher's own path: the machine may already be a container), copying cpuset.cpus and
cpuset.mems down (a new cpuset cgroup starts empty and takes no process). `lab down` removes them bottom-up.
Measured in docs/kubelet-in-lab.md ("cgroups per host").
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

CGROUP_FS = "/sys/fs/cgroup"


@dataclass(frozen=True)
class Hierarchy:
    """One mounted hierarchy: where it is mounted and this process's path in it."""

    mountpoint: str
    own_path: str
    cpuset: bool = False

    def base(self, lab: str) -> Path:
        return Path(self.mountpoint, self.own_path.lstrip("/"), "kubeharden", lab)


def parse_hierarchies(proc_cgroup: str, mountinfo: str) -> list[Hierarchy]:
    """The hierarchies of /proc/self/cgroup, located through /proc/self/mountinfo (cgroup2 and v1 alike). A
    hierarchy that is not mounted here is left out (nothing could be made in it)."""
    mounts: dict[str, str] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        mountpoint, fstype, options = fields[4], tail[0], tail[2]
        if not mountpoint.startswith(CGROUP_FS):
            continue
        if fstype == "cgroup2":
            mounts.setdefault("", mountpoint)
        elif fstype == "cgroup":
            for option in options.split(","):
                if option not in ("rw", "ro", "relatime", "nosuid", "nodev", "noexec", "xattr", "clone_children"):
                    mounts.setdefault(option, mountpoint)
    found: list[Hierarchy] = []
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _id, controllers, path = parts
        names = [c for c in controllers.split(",") if c] or [""]
        where = next((mounts[n] for n in names if n in mounts), None)
        if where is None or any(h.mountpoint == where for h in found):
            continue
        found.append(Hierarchy(where, path, cpuset="cpuset" in names))
    return found


def hierarchies() -> list[Hierarchy]:
    return parse_hierarchies(Path("/proc/self/cgroup").read_text(), Path("/proc/self/mountinfo").read_text())


def enter_script(lab: str, host: str, found: list[Hierarchy]) -> list[str]:
    """Shell lines that put the running shell ($$) into its own cgroup of every hierarchy."""
    lines: list[str] = []
    for hierarchy in found:
        target = hierarchy.base(lab) / host
        if hierarchy.cpuset:
            # each level is created with the parent's cpus and mems (an empty cpuset takes no process)
            root = Path(hierarchy.mountpoint, hierarchy.own_path.lstrip("/"))
            level = root
            for part in target.relative_to(root).parts:
                parent, level = level, level / part
                q, p = shlex.quote(str(level)), shlex.quote(str(parent))
                lines.append(f"mkdir -p {q}")
                lines += [f"cat {p}/{knob} > {q}/{knob}" for knob in ("cpuset.cpus", "cpuset.mems")]
        else:
            lines.append(f"mkdir -p {shlex.quote(str(target))}")
        lines.append(f"echo $$ > {shlex.quote(str(target / 'cgroup.procs'))}")
    return lines
