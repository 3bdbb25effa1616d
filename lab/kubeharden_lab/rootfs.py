"""The lab's shared base root filesystem: a minimal Debian made once with debootstrap, cached by recipe.

Every lab host mounts it read-only as the lower layer of its own overlayfs, so a host costs only its own changes.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import time
from pathlib import Path

from kubeharden_lab.binaries import cache_root

SUITE = "bookworm"
PACKAGES = (
    "systemd",
    "systemd-sysv",
    "dbus",
    "openssh-server",
    "nftables",
    "iproute2",
    "procps",
    "python3",
    "python3-yaml",
    "sudo",
    "openssl",
    "ca-certificates",
    "curl",
    "netcat-openbsd",
    # the kubelet's runtime (docs/kubelet-in-lab.md): masked on hosts of a lab that runs no kubelet
    "containerd",
    "runc",
    "containernetworking-plugins",
    "iptables",
)
# The ssh.service drop-in gives every host its own host keys at first boot (the base carries none).
SSH_DROPIN = "[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n"


class RootfsError(RuntimeError):
    """Making the base root filesystem failed."""


def recipe_id() -> str:
    """A short hash of what goes into the base, so a changed recipe makes a new base."""
    text = SUITE + "\n" + ",".join(PACKAGES) + "\n" + SSH_DROPIN
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _mirror() -> str:
    """The Debian mirror the machine already uses (from its apt sources), else deb.debian.org."""
    for source in [Path("/etc/apt/sources.list"), *sorted(Path("/etc/apt/sources.list.d").glob("*"))]:
        try:
            text = source.read_text()
        except OSError:
            continue
        for line in text.splitlines():
            words = line.split()
            if words[:1] == ["URIs:"] and "security" not in words[1]:
                return words[1]
            if words[:1] == ["deb"] and len(words) > 2 and "security" not in words[-2]:
                url = next((w for w in words[1:] if w.startswith("http")), None)
                if url:
                    return url
    return "http://deb.debian.org/debian"


def _customise(root: Path) -> None:
    """Strip host identity from the base: each host gets its own machine-id and SSH host keys."""
    for key in (root / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (root / "etc/machine-id").write_text("")
    resolv = root / "etc/resolv.conf"
    if resolv.is_symlink() or resolv.exists():
        resolv.unlink()
    resolv.write_text("")
    dropin = root / "etc/systemd/system/ssh.service.d"
    dropin.mkdir(parents=True, exist_ok=True)
    (dropin / "10-lab-hostkeys.conf").write_text(SSH_DROPIN)
    # Units that cannot work inside a container only add noise and slow boots.
    for unit in (
        "systemd-timesyncd.service",
        "apt-daily.timer",
        "apt-daily-upgrade.timer",
        "e2scrub_all.timer",
    ):
        (root / "etc/systemd/system" / unit).unlink(missing_ok=True)
        (root / "etc/systemd/system" / unit).symlink_to("/dev/null")
    (root / "root/.ssh").mkdir(mode=0o700, parents=True, exist_ok=True)


def ensure_rootfs(root_dir: Path | None = None) -> Path:
    """Return the base root filesystem, making it with debootstrap when the cache has none."""
    base = (root_dir or cache_root()) / "rootfs" / f"{SUITE}-{recipe_id()}"
    if (base / ".complete").exists():
        return base
    if shutil.which("debootstrap") is None:
        raise RootfsError("debootstrap is not installed: apt-get install debootstrap systemd-container")
    tmp = base.with_name(base.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    mirror = _mirror()
    print(f"[lab rootfs] debootstrap {SUITE} from {mirror} (about a minute, once)", file=sys.stderr, flush=True)
    started = time.monotonic()
    cmd = [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(PACKAGES),
        SUITE,
        str(tmp),
        mirror,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        log = tmp / "debootstrap/debootstrap.log"
        detail = log.read_text()[-3000:] if log.exists() else proc.stderr[-3000:]
        raise RootfsError(f"debootstrap failed (exit {proc.returncode}):\n{detail}")
    _customise(tmp)
    (tmp / ".complete").write_text(recipe_id() + "\n")
    shutil.rmtree(base, ignore_errors=True)
    tmp.rename(base)
    print(f"[lab rootfs] ready in {time.monotonic() - started:.0f}s: {base}", file=sys.stderr, flush=True)
    return base
