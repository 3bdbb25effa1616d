"""pyinfra operations for control-plane hardening on Linux kubeadm nodes: files written atomically, static pod
manifests applied with a health gate and rollback, kubeadm's ClusterConfiguration kept in step, resources rewritten
after encryption is enabled.

Operations never print file contents (no diffs): they compare checksums and say what they do by name. Every
operation that may touch a host is handed the run's Rollout and leaves the host untouched once an earlier host
failed. Commands from callbacks run with the host's own privilege (kubeharden.host.pyinfra_adapter).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
from collections.abc import Generator
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.operation import operation
from pyinfra.context import host

from kubeharden.core.host_doc import MARKER
from kubeharden.core.state import FileStat, parse_output
from kubeharden.host import pyinfra_adapter
from kubeharden.host.rollout import Rollout
from kubeharden.host.transport import last_lines

REMOTE_DIR = "/var/lib/kubeharden"
ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"
Q = QuoteString


def _sha256(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def _owner(current: FileStat) -> str:
    return current.owner


@operation()
def file_content(
    path: str, content: str, current: FileStat | None, mode: int = 0o600, owner: str = "root:root"
) -> Generator[PyinfraCommand, None, None]:
    """
    Write a whole file atomically (temporary file beside it, then rename), with its mode and owner.

    + path: where the file goes
    + content: the full content; never printed or diffed
    + current: the file's stat from the collection (None when missing)
    + mode: octal mode, 0o600 by default
    + owner: user:group

    **Example:**

    .. code:: python

        file_content(name="KH-API-PSA admission configuration", path="/etc/kubernetes/admission/admission.yaml",
                     content=text, current=state.files.get(path))
    """
    want_mode = format(mode, "o")
    if current is not None and current.sha256 == _sha256(content):
        if current.mode == mode and _owner(current) == owner:
            host.noop(f"{path} already has the planned content, mode {want_mode} and owner {owner}")
            return
        yield StringCommand("chmod", want_mode, Q(path), "&&", "chown", Q(owner), Q(path))
        return
    tmp = f"{path}.kubeharden-tmp"
    yield StringCommand("mkdir", "-p", "-m", "700", Q(path.rsplit("/", 1)[0] or "/"))
    yield FileUploadCommand(io.BytesIO(content.encode()), tmp)
    yield StringCommand("chmod", want_mode, Q(tmp), "&&", "chown", Q(owner), Q(tmp), "&&", "mv", "-f", Q(tmp), Q(path))


@operation()
def file_mode(
    path: str, current: FileStat | None, mode: int, owner: str = "root:root"
) -> Generator[PyinfraCommand, None, None]:
    """
    Make an existing file's mode at most ``mode`` (clearing only the bits it does not allow) and its owner ``owner``
    (CIS 1.1: "600 or stricter").

    + path: the file or directory
    + current: its stat from the collection (None when it does not exist: nothing to do)
    + mode: the most permissive mode allowed
    + owner: user:group
    """
    if current is None or current.mode is None:
        host.noop(f"{path} does not exist on this node")
        return
    have = current.mode
    strict = (have & mode) == have
    if strict and _owner(current) == owner:
        host.noop(f"{path} is mode {have:o} (at most {mode:o}) and owned by {owner}")
        return
    yield StringCommand("chmod", format(have & mode, "o"), Q(path), "&&", "chown", Q(owner), Q(path))


def _guard(state: Any, host: Any, rollout: Rollout) -> bool:  # pyinfra passes state and host by these names
    if rollout.stopped_for(host.name):
        host.log(f"not touched: the rollout stopped after {rollout.failed_host} failed ({rollout.error})")
        return False
    return True


@operation()
def rollout_guard(rollout: Rollout) -> Generator[PyinfraCommand, None, None]:
    """
    Fail this node, untouched, when an earlier control-plane node failed in this run.

    + rollout: the run's Rollout

    pyinfra generates an operation's commands again when it executes it, so the check sees the rollout as it is at
    that moment.
    """
    if rollout.stopped_for(host.name):
        yield FunctionCommand(_guard, (rollout,), {})
        return
    host.noop("no earlier control-plane node failed in this run")


def program_result(state: Any, host: Any, program: str, argument: dict[str, Any], component: str) -> dict[str, Any]:
    """Run an on-host apply program and read its one JSON line; no line is a failure that changed nothing (with
    the program's stderr, and the hint a non-root SSH user needs)."""
    _ok, stdout, stderr = pyinfra_adapter.run_program(state, host, program, argument)
    lines = [line for line in stdout if line.startswith("{")]
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        message = " ".join(stderr)[-800:] or "no output"
        if "Permission denied" in message or "sudo" in message:
            message += " (nothing was changed: the step needs root; set _sudo=True for a non-root SSH user)"
        result = {"ok": False, "changed": False, "restored": False, "error": message}
    result["component"] = component
    return result


def _run_apply(
    state: Any, host: Any, component: str, staged: str, backup_dir: str, timeout: int, rollout: Rollout
) -> bool:
    if not _guard(state, host, rollout):
        return False
    argument = {"component": component, "staged": staged, "backup_dir": backup_dir, "timeout": timeout}
    result = program_result(state, host, "apply_manifest", argument, component)
    rollout.record(host.name, result)
    if result.get("changed"):
        rollout.touched.add(host.name)
    if result.get("ok"):
        host.log(f"{component}: new process {result.get('pid')} healthy after {result.get('seconds')}s")
        return True
    rollout.fail(host.name, str(result.get("error")))
    if not result.get("changed"):
        outcome = "nothing was changed"
    elif result.get("restored"):
        outcome = "previous manifest restored"
    else:
        outcome = "RESTORE FAILED"
    host.log(f"{component}: FAILED, {outcome}: {result.get('error')}")
    return False


@operation()
def static_pod_manifest(
    component: str, content: str, current: str | None, backup_dir: str, rollout: Rollout, timeout: int = 180
) -> Generator[PyinfraCommand, None, None]:
    """
    Replace a static pod manifest and wait until the component runs again as a new, healthy process.

    The current manifest is backed up outside /etc/kubernetes/manifests, the new one written atomically; when the
    component is not healthy within ``timeout`` seconds its previous manifest is restored, the component's own error
    reported and the rollout stopped (no further control-plane node is touched).

    + component: kube-apiserver, kube-controller-manager, kube-scheduler or etcd
    + content: the planned manifest
    + current: the manifest as the collection read it
    + backup_dir: where backups go (never the manifests directory)
    + rollout: the run's Rollout
    + timeout: seconds the component has to be healthy again
    """
    if current is None:
        raise OperationError(f"/etc/kubernetes/manifests/{component}.yaml does not exist on {host.name}")
    if _sha256(current) == _sha256(content):
        host.noop(f"{component} manifest already as planned")
        return
    # One name per run and content: an on-host apply left running by a killed earlier run never removes this one.
    token = hashlib.sha256(f"{content}{os.getpid()}{time.time()}".encode()).hexdigest()[:12]
    staged = f"{REMOTE_DIR}/staged/{component}.{token}.yaml"
    yield StringCommand("mkdir", "-p", "-m", "700", f"{REMOTE_DIR}/staged")
    yield FileUploadCommand(io.BytesIO(content.encode()), staged)
    yield StringCommand("chmod", "600", staged)
    yield FunctionCommand(_run_apply, (component, staged, backup_dir, timeout, rollout), {})


@operation()
def kubeadm_cluster_configuration(
    current: str | None, planned: str, configmap: str = "kubeadm-config", key: str = "ClusterConfiguration"
) -> Generator[PyinfraCommand, None, None]:
    """
    Keep one of kubeadm's ConfigMaps in step with the hardened node: the ClusterConfiguration (kubeadm-config) with
    the manifests, so that ``kubeadm upgrade`` regenerates them with the same settings; the KubeletConfiguration
    (kubelet-config) with the kubelets' config files, so that ``kubeadm join`` and ``kubeadm upgrade node`` write
    them hardened.

    + current: the document now in the ConfigMap (read by the collection on the first control plane)
    + planned: the document with the hardening's settings
    + configmap: kubeadm-config or kubelet-config (namespace kube-system)
    + key: the ConfigMap's data key holding the document
    """
    if current is None:
        host.noop(f"no {configmap} ConfigMap could be read; {key} left as it is")
        return
    if current.strip() == planned.strip():
        host.noop(f"{configmap} {key} already carries the hardening settings")
        return
    patch = json.dumps({"data": {key: planned}})
    tmp = f"{REMOTE_DIR}/{configmap}-patch.json"
    yield StringCommand("mkdir", "-p", "-m", "700", REMOTE_DIR)
    yield FileUploadCommand(io.BytesIO(patch.encode()), tmp)
    yield StringCommand(
        "kubectl",
        "--kubeconfig",
        ADMIN_KUBECONFIG,
        "-n",
        "kube-system",
        "patch",
        "configmap",
        configmap,
        "--type",
        "merge",
        "--patch-file",
        tmp,
        "&&",
        "rm",
        "-f",
        tmp,
    )


def plain_counts(state: Any, host: Any, resources: list[str]) -> dict[str, int | str]:
    """Per resource, how many objects etcd still holds unencrypted, read by the collector with etcd's own client
    URL and every value; a sentence instead of a number when it could not be read (never a zero)."""
    spec = {"components": ["kube-apiserver", "etcd"], "manifest_dir": "/etc/kubernetes/manifests"}
    spec["encryption"] = {"resources": resources, "sample": 0}  # type: ignore[assignment]
    _ok, stdout, stderr = pyinfra_adapter.run_program(state, host, "collector", spec)
    if not any(line.startswith(MARKER) for line in stdout):
        return {r: "the collector failed: " + (last_lines("\n".join(stderr), 300) or "no output") for r in resources}
    document = parse_output(host.name, "\n".join(stdout))
    etcd = (document.get("encryption") or {}).get("etcd") or {}
    if "error" in etcd:
        return {r: str(etcd["error"]) for r in resources}
    found: dict[str, int | str] = {}
    for resource in resources:
        raw: dict[str, Any] = dict(etcd.get(resource) or {"error": "not read"})
        found[resource] = (
            str(raw["error"]) if "error" in raw else int((raw.get("prefixes") or {}).get("unencrypted", 0))
        )
    return found


def _rewrite(state: Any, host: Any, resources: list[str], rollout: Rollout) -> bool:
    if not _guard(state, host, rollout):
        return False
    kubectl = StringCommand("kubectl", "--kubeconfig", ADMIN_KUBECONFIG, "--request-timeout=60s")
    for resource in resources:
        command = StringCommand(
            kubectl, "get", Q(resource), "-A", "-o", "json", "|", kubectl, "replace", "-f", "-", "-o", "name"
        )
        ok, stdout, stderr = pyinfra_adapter.run(state, host, command)
        names = [line for line in stdout if "/" in line]
        rollout.rewritten[resource] = rollout.rewritten.get(resource, 0) + len(names)
        if not ok:
            rollout.fail(
                host.name, f"rewriting {resource} failed after {len(names)}: " + last_lines("\n".join(stderr), 400)
            )
            host.log(f"FAILED: {rollout.error}")
            return False
        plain = plain_counts(state, host, [resource])[resource]
        for _retry in range(3):
            if plain == 0 or isinstance(plain, str):
                break
            host.log(f"{resource}: {plain} still stored unencrypted in etcd, rewriting again")
            time.sleep(5)
            pyinfra_adapter.run(state, host, command)
            plain = plain_counts(state, host, [resource])[resource]
        if isinstance(plain, str):
            rollout.fail(host.name, f"{resource} were rewritten, but etcd could not be read to prove it: {plain}")
            host.log(f"FAILED: {rollout.error}")
            return False
        if plain:
            rollout.fail(host.name, f"{plain} {resource} are still stored unencrypted in etcd after rewriting them")
            host.log(f"FAILED: {rollout.error}")
            return False
        host.log(f"{resource}: {len(names)} rewritten (now stored with the first encryption provider)")
    return True


@operation(is_idempotent=False)
def rewrite_resources(resources: list[str], rollout: Rollout) -> Generator[PyinfraCommand, None, None]:
    """
    Rewrite every object of ``resources`` through the API (``kubectl get -A -o json | kubectl replace -f -``), so
    objects written before encryption was enabled, or with an older key, are stored with the first provider, then
    prove it in etcd (every raw value read). Not idempotent (every run rewrites); the deploy calls it only when
    encryption was newly enabled. Objects are piped on the node, never printed; the count goes to the summary.

    + resources: e.g. ["secrets"] or ["secrets", "configmaps"]
    + rollout: the run's Rollout

    **Example:**

    .. code:: python

        rewrite_resources(name="1.2.27: rewrite existing secrets", resources=["secrets"], rollout=rollout)
    """
    yield FunctionCommand(_rewrite, (list(resources), rollout), {})
