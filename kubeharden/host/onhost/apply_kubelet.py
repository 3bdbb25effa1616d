"""Run ON a node: replace the kubelet's config file safely and restart the kubelet through a health gate, or put
the old file back.

Sent with apply_manifest.py (whose helpers it uses: atomic writes, the per-node lock, the components' health
checks). Steps: back the current file up outside /var/lib/kubelet; write the new one atomically (mode 600); when a
kubelet runs, restart it and wait until a NEW kubelet process answers /healthz on 10248, renews its node Lease after
the restart (it talks to the API server with its own credentials) with its Node Ready, and, on a control plane,
every static pod component answers its own health check again. When it does not (its journal says it exited,
systemd restarts it again and again, or the time runs out): restore the backup, restart, wait for the same, and
exit 1 with the kubelet's own error. A node without a healthy kubelet gets the file only (read at the next
start). Prints one JSON line: {"ok", "changed", "restarted", "restored", "error", "seconds", "failed_after"}.
"""

from __future__ import annotations

import base64
import calendar
import json
import os
import ssl
import subprocess
import sys
import tempfile
import time

if "atomic_write" not in globals():  # imported as a module (tests): the helpers are apply_manifest's
    from kubeharden.host.onhost.apply_manifest import (
        _HELD,
        MANIFESTS,
        _lock,
        _tls_get,
        atomic_write,
        component_processes,
        healthy,
    )

KUBELET_CONF = "/etc/kubernetes/kubelet.conf"
HEALTHZ = ("127.0.0.1", 10248)
CRASHES = 2
"""systemd restarts of the kubelet after ours that count as a crash loop (its RestartSec is 10 s)."""


def _systemctl(*args: str) -> str:
    proc = subprocess.run(["systemctl", *args], capture_output=True, text=True, check=False, timeout=60)
    return proc.stdout.strip()


def kubelet_state() -> dict[str, str]:
    out = _systemctl("show", "kubelet", "-p", "ActiveState", "-p", "NRestarts", "-p", "MainPID")
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def kubelet_error(since: float) -> str:
    """The kubelet's own last error lines since ``since`` (its journal: klog E/F lines, 'command failed')."""
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since))
    proc = subprocess.run(
        ["journalctl", "-u", "kubelet", "--since", stamp, "--no-pager", "-o", "cat"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    lines = [ln for ln in proc.stdout.splitlines() if ln[:1] in ("E", "F") or "command failed" in ln or "Error:" in ln]
    return " | ".join(line.strip()[:300] for line in lines[-3:]) or "no error in its journal"


def healthz() -> tuple[bool, str]:
    import http.client

    conn = http.client.HTTPConnection(*HEALTHZ, timeout=5)
    try:
        conn.request("GET", "/healthz")
        resp = conn.getresponse()
        body = resp.read(200).decode(errors="replace").strip()
        return resp.status == 200 and body == "ok", f"/healthz answered {resp.status}: {body}"
    except OSError as exc:
        return False, f"/healthz: {exc}"
    finally:
        conn.close()


def _get_json(host: str, port: int, path: str, context: ssl.SSLContext) -> tuple[int, dict]:  # type: ignore[type-arg]
    """GET a JSON object in full (a Node object is tens of kilobytes)."""
    status, body = _tls_get(host, port, path, context, timeout=10, limit=4 << 20)
    return status, json.loads(body) if status == 200 else {}


def _kubelet_client(work: str) -> tuple[str, int, ssl.SSLContext] | None:
    """(host, port, SSL context) for the API server as the kubelet reaches it, from kubelet.conf."""

    try:
        with open(KUBELET_CONF) as fh:
            text = fh.read()
    except OSError:
        return None
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, _, value = line.strip().partition(": ")
        found.setdefault(key, value.strip().strip('"'))
    server = found.get("server", "")
    if not server.startswith("https://"):
        return None
    host, _, port = server[len("https://") :].rstrip("/").rpartition(":")
    ca = os.path.join(work, "ca.crt")
    if "certificate-authority-data" in found:
        with open(ca, "wb") as fh:
            fh.write(base64.b64decode(found["certificate-authority-data"]))
    else:
        ca = found.get("certificate-authority", "/etc/kubernetes/pki/ca.crt")
    ctx = ssl.create_default_context(cafile=ca)
    ctx.check_hostname = False
    cert = found.get("client-certificate", "")
    if not cert:
        return None
    ctx.load_cert_chain(cert, found.get("client-key", cert))
    return host.strip("[]"), int(port or 443), ctx


def node_reports(node: str, restarted: float) -> tuple[bool, str]:
    """The node's Lease renewed after the restart (the new kubelet reaches the API server) and the Node Ready."""
    with tempfile.TemporaryDirectory(prefix="kh-") as work:
        try:
            client = _kubelet_client(work)
            if client is None:
                return False, f"cannot read the kubelet's API credentials from {KUBELET_CONF}"
            host, port, ctx = client
            status, lease = _get_json(
                host, port, f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}", ctx
            )
            if status != 200:
                return False, f"the node Lease answered {status}"
            renew = str(lease.get("spec", {}).get("renewTime", ""))
            renewed = calendar.timegm(time.strptime(renew[:19], "%Y-%m-%dT%H:%M:%S")) if renew else 0.0
            if renewed + 1 < restarted:
                return False, f"the node Lease was last renewed at {renew}, before the restart"
            status, found = _get_json(host, port, f"/api/v1/nodes/{node}", ctx)
            conditions = found.get("status", {}).get("conditions", []) if status == 200 else []
            ready = [c.get("status") for c in conditions if c.get("type") == "Ready"]
            return ready == ["True"], f"Node {node} Ready={ready[0] if ready else '?'}"
        except (OSError, ValueError) as exc:
            return False, f"{type(exc).__name__}: {exc}"


def static_pods_healthy() -> tuple[bool, str]:
    for component in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        if not os.path.exists(os.path.join(MANIFESTS, f"{component}.yaml")):
            continue
        procs = component_processes(component)
        if not procs:
            return False, f"{component} is not running"
        argv = max(procs.values())[1]
        ok, detail = healthy(component, argv)
        if not ok:
            return False, f"{component}: {detail}"
    return True, "static pods healthy"


def wait_kubelet(
    node: str, restarted: float, before_pid: str, timeout: float, fail_fast: bool = True
) -> tuple[bool, str]:
    """Wait for the gate; give up early when the kubelet crash-loops (fail_fast)."""
    deadline = time.monotonic() + timeout
    first = kubelet_state()
    base_restarts = int(first.get("NRestarts", "0") or 0)
    detail = "not checked yet"
    while time.monotonic() < deadline:
        now = kubelet_state()
        if fail_fast and int(now.get("NRestarts", "0") or 0) - base_restarts >= CRASHES:
            return False, f"the kubelet exited {CRASHES} times after the restart (systemd restarts it)"
        if now.get("MainPID") in ("", "0", before_pid):
            detail = "no new kubelet process yet"
        else:
            for check in (healthz, lambda: node_reports(node, restarted), static_pods_healthy):
                ok, detail = check()
                if not ok:
                    break
            else:
                return True, detail
        time.sleep(1)
    return False, f"not healthy after {timeout:.0f}s: {detail}"


def restart_and_wait(node: str, timeout: float, fail_fast: bool = True) -> tuple[bool, str, float]:
    before_pid = kubelet_state().get("MainPID", "")
    restarted = time.time()
    _systemctl("restart", "kubelet")
    ok, detail = wait_kubelet(node, restarted, before_pid, timeout, fail_fast)
    return ok, detail, restarted


def apply_sysctls(path: str, content: str) -> str | None:
    """Write the kernel settings file (644) and apply it the way `sysctl -p FILE` does; the error, or None. A value
    that does not read back as written is an error (a read-only /proc/sys: the kubelet would refuse to start)."""
    atomic_write(path, content.encode(), 0o644)
    for line in content.splitlines():
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key.startswith("#") or not key:
            continue
        target = "/proc/sys/" + key.replace(".", "/")
        try:
            with open(target, "w") as fh:
                fh.write(value + "\n")
            with open(target) as fh:
                seen = fh.read().strip()
        except OSError as exc:
            return f"cannot set {key}={value} ({exc}); {path} is written, the kubelet config was not changed"
        if seen != value:
            return f"{key} reads {seen} after writing {value}; the kubelet config was not changed"
    return None


def apply_kubelet(args: dict) -> tuple[int, dict]:  # type: ignore[type-arg]
    started = time.monotonic()
    path, staged = str(args["path"]), str(args["staged"])
    result: dict[str, object] = {"changed": False, "restarted": False, "restored": False, "error": None}
    with open(staged, "rb") as fh:
        new = fh.read()
    try:
        with open(path, "rb") as fh:
            old: bytes | None = fh.read()
    except FileNotFoundError:
        old = None
    if old == new:
        result.update(ok=True, seconds=0.0)
        return 0, result
    sysctl = args.get("sysctl")
    if sysctl:
        error = apply_sysctls(str(sysctl["path"]), str(sysctl["content"]))
        if error:
            result.update(ok=False, error=error, seconds=round(time.monotonic() - started, 1))
            return 1, result
    backup_dir = str(args["backup_dir"])
    os.makedirs(backup_dir, mode=0o700, exist_ok=True)
    if old is not None:
        result["backup"] = os.path.join(backup_dir, f"{time.strftime('%Y%m%dT%H%M%S')}-kubelet-config.yaml")
        atomic_write(str(result["backup"]), old)
    # Only a kubelet that is healthy now is restarted and gated: one that is stopped, absent or already failing
    # (systemd restarting it) gets the file, which it reads at its next start; the gate could prove nothing there.
    state = kubelet_state().get("ActiveState", "")
    running = state == "active" and healthz()[0]
    atomic_write(path, new)
    result["changed"] = True
    if not running:
        result.update(
            ok=True,
            seconds=round(time.monotonic() - started, 1),
            note=f"no healthy kubelet runs (kubelet.service {state or 'unknown'}): it reads the file at its next start",
        )
        return 0, result
    node, timeout = str(args["node"]), float(args["timeout"])
    ok, detail, restarted = restart_and_wait(node, timeout)
    result["restarted"] = True
    if ok:
        result.update(ok=True, seconds=round(time.monotonic() - started, 1))
        return 0, result
    result["failed_after"] = round(time.time() - restarted, 1)
    result["error"] = f"the kubelet did not come back healthy ({detail}); its own error: {kubelet_error(restarted)}"
    if old is not None:
        atomic_write(path, old)
    back, back_detail, _ = restart_and_wait(node, timeout, fail_fast=False)
    result.update(ok=False, restored=old is not None and back, seconds=round(time.monotonic() - started, 1))
    if not back:
        result["error"] = (
            str(result["error"]) + f"; AFTER RESTORING the previous file it is still not healthy: {back_detail}"
        )
    return 1, result


def kubelet_main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    args = json.loads(base64.b64decode(words[0]).decode())
    _HELD.append(_lock(2 * float(args["timeout"]) + 60))
    code, result = apply_kubelet(args)
    if code == 0:
        os.unlink(str(args["staged"]))
    print(json.dumps(result))
    return code


if __name__ == "__main__" and len(sys.argv) > 1 and os.path.basename(sys.argv[0]) == "apply_kubelet":
    sys.exit(kubelet_main())
