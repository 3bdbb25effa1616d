"""Run ON a control-plane node: replace one static pod manifest safely, or put the old one back.

Sent and run by kubeharden's `static_pod_manifest` operation the way every on-host program is sent
(kubeharden.host.invoke: its argument is base64 JSON in argv[1]; stdlib only, the node's python3).
Steps: back the current manifest up OUTSIDE /etc/kubernetes/manifests (the kubelet runs every file there);
write the new one atomically (a hidden temporary file in the same directory, then rename); wait until the
component runs as a NEW process with the new arguments and answers its health check; if it does not (its log says
it exited on its configuration, it crash-loops, or the time allowed runs out), read the component's own error
from its log, restore the backup, wait for it to be healthy again, and exit 1. Prints one JSON line:
{"ok", "changed", "component", "pid", "error", "restored", "seconds", "failed_after"}.
"""

from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import re
import shutil
import ssl
import sys
import tempfile
import time

MANIFESTS = "/etc/kubernetes/manifests"
LOG_GLOBS = (
    "/var/log/pods/kube-system_{c}-*/{c}/*.log",  # what the kubelet writes on a real node
    "/var/log/kubeharden-lab/{c}.yaml.log",  # the lab's static-pod runner
)


def read_yaml_command(text: str) -> list[str]:
    """The container's command+args of a kubeadm manifest, read without PyYAML (the node may not have it).

    kubeadm writes `- command:` then one `- item` per line; args likewise. Enough to compare a running
    process's argv with the manifest; the controller side did the structural editing.
    """
    argv: list[str] = []
    mode = None
    indent = -1
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("- command:", "command:", "args:", "- args:"):
            mode = "collect"
            indent = len(line) - len(line.lstrip()) + (2 if stripped.startswith("-") else 0)
            continue
        if mode == "collect":
            current = len(line) - len(line.lstrip())
            if stripped.startswith("- ") and current >= indent - 2:
                value = stripped[2:]
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                argv.append(value)
                continue
            mode = None
    return argv


def component_processes(component: str) -> dict[int, tuple[float, list[str]]]:
    """PID -> (start time in clock ticks, argv) of every process whose argv[0] basename is the component."""
    found: dict[int, tuple[float, list[str]]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
            if not argv or os.path.basename(argv[0]) != component:
                continue
            with open(f"/proc/{entry}/stat") as fh:
                start = float(fh.read().rsplit(")", 1)[1].split()[19])
        except OSError:
            continue
        found[int(entry)] = (start, argv)
    return found


def flag_value(argv: list[str], name: str, default: str) -> str:
    for arg in argv:
        if arg.startswith(name + "="):
            return arg.split("=", 1)[1]
    return default


def _tls_get(
    host: str, port: int, path: str, context: ssl.SSLContext, timeout: float = 5.0, limit: int = 2000
) -> tuple[int, str]:
    """GET ``path``: the status and up to ``limit`` bytes of the body (health answers are short)."""
    conn = http.client.HTTPSConnection(host, port, context=context, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read(limit).decode(errors="replace")
    finally:
        conn.close()


def _kubeconfig_creds(path: str, workdir: str) -> tuple[str, str, str] | None:
    """Extract CA, client cert and key of a kubeconfig into a private directory (removed by the caller)."""
    try:
        with open(path) as fh:
            text = fh.read()
    except OSError:
        return None
    wanted = {"certificate-authority-data": "ca.crt", "client-certificate-data": "c.crt", "client-key-data": "c.key"}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(": ")
        if key in wanted and key not in out:
            target = os.path.join(workdir, wanted[key])
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(base64.b64decode(value))
            out[key] = target
    if len(out) != 3:
        return None
    return out["certificate-authority-data"], out["client-certificate-data"], out["client-key-data"]


def healthy(component: str, argv: list[str]) -> tuple[bool, str]:
    """The component's own health endpoint, the way an operator checks it."""
    try:
        if component == "kube-apiserver":
            port = int(flag_value(argv, "--secure-port", "6443"))
            bind = flag_value(argv, "--bind-address", "0.0.0.0")  # noqa: S104 -- flag default read, not a bind
            host = "127.0.0.1" if bind in ("0.0.0.0", "::", "") else bind  # noqa: S104 -- values recognised, not a bind
            with tempfile.TemporaryDirectory(prefix="kh-") as work:
                creds = _kubeconfig_creds("/etc/kubernetes/admin.conf", work)
                if creds is None:
                    return False, "cannot read client credentials from /etc/kubernetes/admin.conf"
                ctx = ssl.create_default_context(cafile=creds[0])
                ctx.check_hostname = False
                ctx.load_cert_chain(creds[1], creds[2])
                status, body = _tls_get(host, port, "/readyz", ctx)
            return status == 200, f"/readyz answered {status}: {body.strip()[:200]}"
        if component == "etcd":
            urls = [u for u in flag_value(argv, "--listen-client-urls", "").split(",") if u.startswith("https://")]
            if not urls:
                return False, "etcd has no https client URL to check"
            hostport = urls[0][len("https://") :].rstrip("/")
            etcd_host, _, etcd_port = hostport.rpartition(":")
            ctx = ssl.create_default_context(
                cafile=flag_value(argv, "--trusted-ca-file", "/etc/kubernetes/pki/etcd/ca.crt")
            )
            ctx.check_hostname = False
            ctx.load_cert_chain(
                "/etc/kubernetes/pki/etcd/healthcheck-client.crt", "/etc/kubernetes/pki/etcd/healthcheck-client.key"
            )
            status, body = _tls_get(etcd_host.strip("[]") or "127.0.0.1", int(etcd_port), "/health", ctx)
            return status == 200 and '"true"' in body, f"etcd /health answered {status}: {body.strip()[:200]}"
        default_port = {"kube-controller-manager": "10257", "kube-scheduler": "10259"}[component]
        port = int(flag_value(argv, "--secure-port", default_port))
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # healthz of a self-signed serving cert; the answer is what counts
        status, body = _tls_get("127.0.0.1", port, "/healthz", ctx)
        return status == 200 and body.strip() == "ok", f"/healthz answered {status}: {body.strip()[:200]}"
    except (OSError, ssl.SSLError, http.client.HTTPException, ValueError) as exc:
        return False, f"{type(exc).__name__}: {exc}"


def component_error(component: str, since: float) -> str:
    """The last error lines the component itself wrote (kubelet pod logs, or the lab runner's log)."""
    paths: list[str] = []
    for pattern in LOG_GLOBS:
        paths += glob.glob(pattern.format(c=component))
    paths = [p for p in paths if os.path.getmtime(p) >= since - 5] or paths
    if not paths:
        return "no log of the component was found"
    newest = max(paths, key=os.path.getmtime)
    with open(newest, errors="replace") as fh:
        lines = fh.readlines()[-60:]
    cobra = [line.strip() for line in lines if line.startswith("Error: ")]
    klog = [line.strip() for line in lines if len(line) > 5 and line[0] in "EF" and line[1:5].isdigit()]
    markers = ("error", "unknown flag", "invalid", "failed", "no such file")
    other = [
        line.strip()
        for line in lines
        if not line.startswith((" ", "\t", "-")) and any(m in line.lower() for m in markers)
    ]
    picked = (cobra or klog or other or [line.strip() for line in lines])[-3:]
    return " | ".join(picked)[-1500:]


_CRI_PREFIX = re.compile(r"^\S+ (?:stdout|stderr) [FP] ")
CRASH_LOOP = 3
"""New processes with the planned arguments that died before becoming healthy: a crash loop, give up."""


def log_offsets(component: str) -> dict[str, int]:
    """The size of each of the component's logs now: what is written after this is the new process's."""
    offsets = {}
    for pattern in LOG_GLOBS:
        for path in glob.glob(pattern.format(c=component)):
            try:
                offsets[path] = os.path.getsize(path)
            except OSError:
                continue
    return offsets


def new_log_lines(component: str, offsets: dict[str, int]) -> list[str]:
    """Lines written to the component's logs since ``offsets`` (a file that is new, or shorter, from its start),
    without the CRI log prefix the kubelet adds (``<time> stderr F ``)."""
    lines: list[str] = []
    for pattern in LOG_GLOBS:
        for path in sorted(glob.glob(pattern.format(c=component))):
            try:
                with open(path, "rb") as fh:
                    start = offsets.get(path, 0)
                    fh.seek(start if start <= os.path.getsize(path) else 0)
                    text = fh.read(1 << 20).decode(errors="replace")
            except OSError:
                continue
            lines += [_CRI_PREFIX.sub("", line) for line in text.splitlines()]
    return lines


def fatal_lines(lines: list[str]) -> list[str]:
    """The lines that say the component exited on its configuration: cobra's ``Error: ...`` (an unknown flag, a
    value it rejects) and klog's fatal ``F1202 ...`` lines."""
    return [
        line.strip()
        for line in lines
        if line.startswith("Error: ") or (len(line) > 5 and line[0] == "F" and line[1:5].isdigit())
    ]


def wait_new_and_healthy(
    component: str,
    old: dict[int, tuple[float, list[str]]],
    want_argv: list[str],
    timeout: float,
    fail_fast: bool = True,
) -> tuple[bool, int | None, str]:
    """Wait for a process that is not one of `old`, runs `want_argv`, and is healthy (twice in a row).

    With ``fail_fast``, give up at once when the component's log says it exited on its configuration, or after
    CRASH_LOOP new processes died; the timeout is for the hung case."""
    deadline = time.monotonic() + timeout
    detail, streak = "no new process yet", 0
    offsets = log_offsets(component)
    died: set[int] = set()
    seen: set[int] = set()
    while time.monotonic() < deadline:
        current = component_processes(component)
        fresh = {pid: info for pid, info in current.items() if pid not in old or old[pid][0] != info[0]}
        match = [pid for pid, (_, argv) in fresh.items() if sorted(argv) == sorted(want_argv)]
        died |= seen - set(current)
        seen |= set(match)
        if match:
            ok, detail = healthy(component, current[match[0]][1])
            streak = streak + 1 if ok else 0
            if streak >= 2:
                return True, match[0], detail
        elif fresh:
            detail = "a new process runs, but not with the planned arguments yet"
        if fail_fast and not streak:
            fatal = fatal_lines(new_log_lines(component, offsets))
            if fatal:
                return False, None, f"it exited on its configuration: {fatal[-1][:500]}"
            if len(died) >= CRASH_LOOP:
                return False, None, f"{len(died)} new processes exited before becoming healthy (a crash loop)"
        time.sleep(0.5)
    return False, None, detail


def atomic_write(path: str, data: bytes, mode: int = 0o600) -> None:
    directory, name = os.path.split(path)
    tmp = os.path.join(directory, f".{name}.kubeharden-tmp")  # hidden: the kubelet ignores dotfiles
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, mode)
    os.chown(tmp, 0, 0)
    os.replace(tmp, path)


class _Args:
    """The operation's argument: {"component", "staged", "backup_dir", "timeout"}."""

    def __init__(self, raw: dict) -> None:  # type: ignore[type-arg]
        self.component = str(raw["component"])
        self.staged = str(raw["staged"])
        self.backup_dir = str(raw["backup_dir"])
        self.timeout = float(raw.get("timeout", 180))


LOCK = "/var/lib/kubeharden/apply.lock"
_HELD: list[object] = []


def _lock(timeout: float) -> object:
    """One manifest change at a time on this node: an apply left running by a killed earlier run finishes (or
    restores) before this one starts, instead of racing it."""
    import fcntl

    os.makedirs(os.path.dirname(LOCK), mode=0o700, exist_ok=True)
    fh = open(LOCK, "w")  # noqa: SIM115 -- held until the process exits
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fh
        except BlockingIOError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"another kubeharden apply held {LOCK} for {timeout:.0f}s") from None
            time.sleep(0.5)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = _Args(json.loads(base64.b64decode(words[0]).decode()))
    _HELD.append(_lock(2 * args.timeout + 60))
    started = time.monotonic()
    target = os.path.join(MANIFESTS, f"{args.component}.yaml")
    result: dict[str, object] = {"component": args.component, "changed": False, "restored": False, "error": None}
    with open(args.staged, "rb") as fh:
        new = fh.read()
    with open(target, "rb") as fh:
        old_text = fh.read()
    if old_text == new:
        result.update(ok=True, pid=None, seconds=0.0)
        print(json.dumps(result))
        return 0
    os.makedirs(args.backup_dir, mode=0o700, exist_ok=True)
    backup = os.path.join(args.backup_dir, f"{time.strftime('%Y%m%dT%H%M%S')}-{args.component}.yaml")
    atomic_write(backup, old_text)
    result["backup"] = backup
    before = component_processes(args.component)
    write_time = time.time()
    atomic_write(target, new)
    result["changed"] = True
    ok, pid, detail = wait_new_and_healthy(args.component, before, read_yaml_command(new.decode()), args.timeout)
    result["failed_after"] = None if ok else round(time.time() - write_time, 1)
    if ok:
        result.update(ok=True, pid=pid, seconds=round(time.monotonic() - started, 1))
        os.unlink(args.staged)
        print(json.dumps(result))
        return 0
    waited = time.time() - write_time
    result["error"] = f"{args.component} did not become healthy after {waited:.0f}s ({detail}); its own error: " + (
        component_error(args.component, write_time)
    )
    failed = component_processes(args.component)
    atomic_write(target, old_text)
    restored, pid, detail = wait_new_and_healthy(
        args.component, failed, read_yaml_command(old_text.decode()), args.timeout, fail_fast=False
    )
    result.update(ok=False, restored=restored, pid=pid, seconds=round(time.monotonic() - started, 1))
    if not restored:
        result["error"] = str(result["error"]) + f"; AFTER RESTORING the backup it is still not healthy: {detail}"
    shutil.copyfile(args.staged, args.staged + ".failed")
    print(json.dumps(result))
    return 1


if (
    __name__ == "__main__"
    and len(sys.argv) > 1
    and os.path.basename(sys.argv[0]) in ("apply_manifest", "apply_manifest.py")
):
    sys.exit(main())  # (apply_kubelet is sent with this file and has its own entry)
