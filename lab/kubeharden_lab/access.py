"""SSH access to lab hosts the way production is reached: the lab's own key, strict host-key checking.

Host keys are read out of band from each host's own filesystem (not scanned over the network), so the lab's
known_hosts is trustworthy and every connection, ours, pyinfra's and testinfra's, checks it strictly.
"""

from __future__ import annotations

import shlex
import socket
import subprocess
import time
from pathlib import Path

from kubeharden_lab.config import LabHost, LabSpec
from kubeharden_lab.machines import process_alive


class AccessError(RuntimeError):
    """A command on a lab host failed; the message names the host, the command and its error."""


def ensure_key(lab_dir: Path) -> Path:
    """The lab's own SSH key pair (ed25519, no passphrase, mode 600)."""
    key = lab_dir / "id_ed25519"
    if not key.exists():
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kubeharden-lab", "-f", str(key)],
            check=True,
        )
    key.chmod(0o600)
    return key


def host_pubkey_path(upper: Path) -> Path:
    return upper / "etc/ssh/ssh_host_ed25519_key.pub"


def _boot_failure(console: Path) -> str:
    """Why a host's nspawn ended, from its console log, with a hint for the failure seen on shared machines."""
    try:
        tail = console.read_text(errors="replace").splitlines()[-6:]
    except OSError:
        tail = []
    text = " | ".join(line.strip() for line in tail)
    if "Too many open files" in text:
        text += (
            " (the machine's inotify instances, fs.inotify.max_user_instances, are used up: every lab host's systemd "
            "takes some; remove other labs with `kubeharden lab down` or run fewer hosts)"
        )
    return text or "no console output"


def wait_for_ssh(host: LabHost, upper: Path, timeout: float = 120.0, pid: int | None = None) -> str:
    """Wait until the host made its host key and sshd accepts TCP; return the public key line.

    When the host's nspawn process `pid` ends first, fail at once with the reason from its console log.
    """
    deadline = time.monotonic() + timeout
    pub = host_pubkey_path(upper)
    last = "no host key yet"
    while time.monotonic() < deadline:
        if pid is not None and not process_alive(pid):
            reason = _boot_failure(upper.parent / "console.log")
            raise AccessError(f"host {host.name} ({host.address}) stopped while booting: {reason}")
        if pub.exists() and pub.stat().st_size > 0:
            try:
                with socket.create_connection((host.address, 22), timeout=2) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return " ".join(pub.read_text().split()[:2])
            except OSError as exc:
                last = str(exc)
        time.sleep(0.3)
    raise AccessError(f"host {host.name} ({host.address}): sshd did not come up in {timeout:.0f}s ({last})")


def write_known_hosts(lab_dir: Path, keys: dict[LabHost, str]) -> Path:
    path = lab_dir / "known_hosts"
    lines = [f"{h.name},{h.address} {key}" for h, key in sorted(keys.items(), key=lambda kv: kv[0].address)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n")
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def control_dir(spec: LabSpec) -> Path:
    """Short path for ControlMaster sockets (unix socket paths are limited to 108 bytes)."""
    return Path("/run/kubeharden") / spec.name


def write_ssh_config(lab_dir: Path, spec: LabSpec) -> Path:
    control = control_dir(spec)
    control.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = (lab_dir / "id_ed25519").resolve()
    known = (lab_dir / "known_hosts").resolve()
    blocks = []
    for h in spec.hosts:
        blocks.append(
            f"Host {h.name} {h.address}\n"
            f"  HostName {h.address}\n"
            "  User root\n"
            f"  IdentityFile {key}\n"
            "  IdentitiesOnly yes\n"
            f"  UserKnownHostsFile {known}\n"
            "  StrictHostKeyChecking yes\n"
            "  BatchMode yes\n"
            "  ConnectTimeout 10\n"
            "  LogLevel ERROR\n"
            "  ControlMaster auto\n"
            f"  ControlPath {control}/{h.name}\n"
            "  ControlPersist 120s\n"
        )
    path = lab_dir / "ssh_config"
    path.write_text("\n".join(blocks))
    return path


class LabShell:
    """Run commands on lab hosts through OpenSSH with the lab's ssh_config."""

    def __init__(self, lab_dir: Path) -> None:
        self.config = (lab_dir / "ssh_config").resolve()

    def run(
        self,
        host: str,
        command: str,
        *,
        stdin: str | bytes | None = None,
        check: bool = True,
        timeout: float = 300.0,
    ) -> subprocess.CompletedProcess[str]:
        data = stdin.encode() if isinstance(stdin, str) else stdin
        proc = subprocess.run(
            ["ssh", "-F", str(self.config), host, command],
            input=data,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
        result = subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode(errors="replace"),
            proc.stderr.decode(errors="replace"),
        )
        if check and proc.returncode != 0:
            raise AccessError(
                f"{host}: `{command[:200]}` failed (exit {proc.returncode}): "
                f"{(result.stderr or result.stdout).strip()[-2000:]}"
            )
        return result

    def read(self, host: str, path: str) -> str:
        return self.run(host, f"cat {shlex.quote(path)}").stdout

    def write(self, host: str, path: str, content: str | bytes, mode: str = "0644") -> None:
        """Atomic write: a temporary file beside the target, then rename."""
        q = shlex.quote(path)
        tmp = shlex.quote(path + ".kh-tmp")
        self.run(
            host,
            f"mkdir -p $(dirname {q}) && umask 077 && cat > {tmp} && chmod {mode} {tmp} && mv -f {tmp} {q}",
            stdin=content,
        )

    def close(self, spec: LabSpec) -> None:
        """End the ControlMaster connections."""
        for h in spec.hosts:
            subprocess.run(
                ["ssh", "-F", str(self.config), "-O", "exit", h.name],
                capture_output=True,
                check=False,
                timeout=10,
            )
