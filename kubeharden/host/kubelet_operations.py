"""The pyinfra operation that hardens a node's kubelet config: the file replaced atomically with a backup, the
kubelet restarted only when the file changed, then gated (kubeharden/host/onhost/apply_kubelet.py); a kubelet that
does not come back is restored and the rollout stops there. Never prints the file (no diffs)."""

from __future__ import annotations

import hashlib
import io
import os
import time
from collections.abc import Generator
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, PyinfraCommand, StringCommand
from pyinfra.api.operation import operation
from pyinfra.context import host

from kubeharden.host.operations import REMOTE_DIR, _guard, program_result
from kubeharden.host.rollout import Rollout


def _run_kubelet_apply(state: Any, host: Any, argument: dict[str, Any], rollout: Rollout) -> bool:
    if not _guard(state, host, rollout):
        return False
    result = program_result(state, host, "apply_kubelet", argument, "kubelet")
    rollout.record(host.name, result)
    if result.get("changed"):
        rollout.touched.add(host.name)
    if result.get("ok"):
        said = "restarted, healthy" if result.get("restarted") else str(result.get("note") or "unchanged")
        host.log(f"kubelet: config written, {said} after {result.get('seconds')}s")
        return True
    rollout.fail(host.name, str(result.get("error")))
    outcome = "previous config restored" if result.get("restored") else "nothing was changed"
    if result.get("changed") and not result.get("restored"):
        outcome = "RESTORE FAILED"
    host.log(f"kubelet: FAILED, {outcome}: {result.get('error')}")
    return False


@operation()
def kubelet_config(
    path: str,
    content: str,
    current: str | None,
    node: str,
    backup_dir: str,
    rollout: Rollout,
    timeout: int = 180,
    sysctl: tuple[str, str] | None = None,
) -> Generator[PyinfraCommand, None, None]:
    """
    Replace the kubelet's config file and restart the kubelet through a health gate, or put the old file back.

    + path: the config file the kubelet's --config names
    + content: the planned file
    + current: the file as the collection read it
    + node: the Node's name (its Lease and Ready condition are part of the gate)
    + backup_dir: where the previous file is kept
    + rollout: the run's Rollout (a failure stops it)
    + timeout: seconds the kubelet has to be healthy again
    + sysctl: (path, content) of the kernel settings written and applied first (protectKernelDefaults)
    """
    if current is not None and hashlib.sha256(current.encode()).digest() == hashlib.sha256(content.encode()).digest():
        host.noop("kubelet config already as planned")
        return
    token = hashlib.sha256(f"{content}{os.getpid()}{time.time()}".encode()).hexdigest()[:12]
    staged = f"{REMOTE_DIR}/staged/kubelet-config.{token}.yaml"
    yield StringCommand("mkdir", "-p", "-m", "700", f"{REMOTE_DIR}/staged")
    yield FileUploadCommand(io.BytesIO(content.encode()), staged)
    yield StringCommand("chmod", "600", staged)
    argument: dict[str, Any] = {"path": path, "staged": staged, "node": node, "backup_dir": backup_dir}
    argument["timeout"] = timeout
    if sysctl is not None:
        argument["sysctl"] = {"path": sysctl[0], "content": sysctl[1]}
    yield FunctionCommand(_run_kubelet_apply, (argument, rollout), {})
