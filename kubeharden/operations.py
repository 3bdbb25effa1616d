"""pyinfra operations for control-plane hardening: files written atomically, static pod manifests applied with a
health gate and rollback, and kubeadm's ClusterConfiguration kept in step. For Linux kubeadm nodes.

Operations never print file contents (no diffs): they compare checksums and say what they do by name.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from pyinfra.api.command import FileUploadCommand, FunctionCommand, PyinfraCommand, QuoteString, StringCommand
from pyinfra.api.exceptions import OperationError
from pyinfra.api.operation import operation
from pyinfra.context import host

logger = logging.getLogger("kubeharden")

REMOTE_DIR = "/var/lib/kubeharden"
APPLY_SCRIPT = f"{REMOTE_DIR}/apply_manifest.py"


@dataclass
class Rollout:
    """Shared by the operations of one run: the first control-plane failure stops the rollout everywhere."""

    failed_host: str | None = None
    error: str | None = None
    results: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rewritten: dict[str, int] = field(default_factory=dict)
    """Resources rewritten so they are stored encrypted: {"secrets": 12}."""

    def reset(self) -> None:
        self.failed_host, self.error = None, None
        self.results.clear()
        self.rewritten.clear()


ROLLOUT = Rollout()
Q = QuoteString


def _sha256(text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def _apply_script() -> bytes:
    return resources.files("kubeharden.remote").joinpath("apply_manifest.py").read_bytes()


@operation()
def file_content(
    path: str, content: str, current: dict[str, Any] | None, mode: int = 0o600, owner: str = "root:root"
) -> Generator[PyinfraCommand, None, None]:
    """
    Write a whole file atomically (temporary file beside it, then rename), with its mode and owner.

    + path: where the file goes
    + content: the full content; never printed or diffed
    + current: the file's stat from the ControlPlaneState fact (None when missing)
    + mode: octal mode, 0o600 by default
    + owner: user:group

    **Example:**

    .. code:: python

        file_content(name="KH-API-PSA admission configuration", path="/etc/kubernetes/admission/admission.yaml",
                     content=text, current=state["files"].get(path))
    """
    want_mode = format(mode, "o")
    if current and current.get("sha256") == _sha256(content):
        if current.get("mode") == want_mode and current.get("owner") == owner:
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
    path: str, current: dict[str, Any] | None, mode: int, owner: str = "root:root"
) -> Generator[PyinfraCommand, None, None]:
    """
    Make an existing file's mode at most `mode` and its owner `owner` (CIS 1.1: "600 or stricter").

    + path: the file or directory
    + current: its stat from the ControlPlaneState fact (None when it does not exist: nothing to do)
    + mode: the most permissive mode allowed
    + owner: user:group
    """
    if current is None:
        host.noop(f"{path} does not exist on this node")
        return
    have = int(current["mode"], 8)
    strict = (have & mode) == have
    if strict and current.get("owner") == owner:
        host.noop(f"{path} is mode {current['mode']} (at most {format(mode, 'o')}) and owned by {owner}")
        return
    target = format(have & mode, "o") if not strict else current["mode"]
    yield StringCommand("chmod", target, Q(path), "&&", "chown", Q(owner), Q(path))


def _guard(state: Any, host: Any) -> bool:  # pyinfra passes state and host by these names
    if ROLLOUT.failed_host and ROLLOUT.failed_host != host.name:
        host.log(
            f"not touched: the rollout stopped after {ROLLOUT.failed_host} failed ({ROLLOUT.error})",
        )
        return False
    return True


@operation()
def rollout_guard() -> Generator[PyinfraCommand, None, None]:
    """
    Fail this node, untouched, when an earlier control-plane node failed in this run.

    pyinfra generates an operation's commands again when it executes it, so the check sees the rollout as it
    is at that moment.
    """
    if ROLLOUT.failed_host and ROLLOUT.failed_host != host.name:
        yield FunctionCommand(_guard, (), {})
        return
    host.noop("no earlier control-plane node failed in this run")


def _run_apply(state: Any, host: Any, component: str, staged: str, backup_dir: str, timeout: int) -> bool:
    if not _guard(state, host):
        return False
    command = StringCommand(
        "python3",
        APPLY_SCRIPT,
        "--component",
        component,
        "--staged",
        Q(staged),
        "--backup-dir",
        Q(backup_dir),
        "--timeout",
        str(timeout),
    )
    _status, output = host.run_shell_command(command, print_output=False, print_input=False)
    lines = [line for line in output.stdout_lines if line.startswith("{")]
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        result = {"ok": False, "component": component, "error": "apply failed: " + " ".join(output.stderr_lines)[-800:]}
    ROLLOUT.results.setdefault(host.name, []).append(result)
    if result.get("ok"):
        host.log(f"{component}: new process {result.get('pid')} healthy after {result.get('seconds')}s")
        return True
    ROLLOUT.failed_host = host.name
    ROLLOUT.error = str(result.get("error"))
    restored = "previous manifest restored" if result.get("restored") else "RESTORE FAILED"
    host.log(f"{component}: FAILED, {restored}: {result.get('error')}")
    return False


@operation()
def static_pod_manifest(
    component: str, content: str, current: str | None, backup_dir: str, timeout: int = 180
) -> Generator[PyinfraCommand, None, None]:
    """
    Replace a static pod manifest and wait until the component runs again as a new, healthy process.

    The current manifest is backed up outside /etc/kubernetes/manifests, the new one written atomically; when
    the component is not healthy within `timeout` seconds its previous manifest is restored, the component's own
    error reported and the rollout stopped (no further control-plane node is touched).

    + component: kube-apiserver, kube-controller-manager, kube-scheduler or etcd
    + content: the planned manifest
    + current: the manifest as the ControlPlaneState fact read it
    + backup_dir: where backups go (never the manifests directory)
    + timeout: seconds the component has to be healthy again
    """
    if current is None:
        raise OperationError(f"/etc/kubernetes/manifests/{component}.yaml does not exist on {host.name}")
    if _sha256(current) == _sha256(content):
        host.noop(f"{component} manifest already as planned")
        return
    staged = f"{REMOTE_DIR}/staged/{component}.yaml"
    yield StringCommand("mkdir", "-p", "-m", "700", f"{REMOTE_DIR}/staged")
    yield FileUploadCommand(io.BytesIO(_apply_script()), APPLY_SCRIPT)
    yield FileUploadCommand(io.BytesIO(content.encode()), staged)
    yield StringCommand("chmod", "600", staged, APPLY_SCRIPT)
    yield FunctionCommand(_run_apply, (component, staged, backup_dir, timeout), {})


@operation()
def kubeadm_cluster_configuration(current: str | None, planned: str) -> Generator[PyinfraCommand, None, None]:
    """
    Keep kubeadm's ClusterConfiguration (kubeadm-config ConfigMap) in step with the hardened manifests, so that a
    later `kubeadm upgrade` regenerates them with the same settings.

    + current: the ClusterConfiguration now in the ConfigMap (KubeadmClusterConfiguration fact)
    + planned: the ClusterConfiguration with the hardening's extraArgs and extraVolumes
    """
    if current is None:
        host.noop("no kubeadm-config ConfigMap could be read; ClusterConfiguration left as it is")
        return
    if current.strip() == planned.strip():
        host.noop("kubeadm-config ClusterConfiguration already carries the hardening settings")
        return
    patch = json.dumps({"data": {"ClusterConfiguration": planned}})
    tmp = f"{REMOTE_DIR}/kubeadm-config-patch.json"
    yield StringCommand("mkdir", "-p", "-m", "700", REMOTE_DIR)
    yield FileUploadCommand(io.BytesIO(patch.encode()), tmp)
    yield StringCommand(
        "kubectl",
        "--kubeconfig",
        "/etc/kubernetes/admin.conf",
        "-n",
        "kube-system",
        "patch",
        "configmap",
        "kubeadm-config",
        "--type",
        "merge",
        "--patch-file",
        tmp,
        "&&",
        "rm",
        "-f",
        tmp,
    )


ADMIN_KUBECONFIG = "/etc/kubernetes/admin.conf"


def _rewrite(state: Any, host: Any, resources: list[str]) -> bool:
    if not _guard(state, host):
        return False
    for resource in resources:
        kubectl = StringCommand("kubectl", "--kubeconfig", ADMIN_KUBECONFIG, "--request-timeout=60s")
        command = StringCommand(
            kubectl, "get", Q(resource), "-A", "-o", "json", "|", kubectl, "replace", "-f", "-", "-o", "name"
        )
        ok, output = host.run_shell_command(command, print_output=False, print_input=False)
        names = [line for line in output.stdout_lines if "/" in line]
        ROLLOUT.rewritten[resource] = ROLLOUT.rewritten.get(resource, 0) + len(names)
        if not ok:
            ROLLOUT.failed_host = host.name
            ROLLOUT.error = f"rewriting {resource} failed after {len(names)}: " + " ".join(output.stderr_lines)[-400:]
            host.log(f"FAILED: {ROLLOUT.error}")
            return False
        plain = _plain_count(host, resource)
        for _retry in range(3):
            if not plain:
                break
            host.log(f"{resource}: {plain} still stored unencrypted in etcd, rewriting again")
            time.sleep(5)
            host.run_shell_command(command, print_output=False, print_input=False)
            plain = _plain_count(host, resource)
        if plain:
            ROLLOUT.failed_host = host.name
            ROLLOUT.error = f"{plain} {resource} are still stored unencrypted in etcd after rewriting them"
            host.log(f"FAILED: {ROLLOUT.error}")
            return False
        host.log(f"{resource}: {len(names)} rewritten (now stored with the first encryption provider)")
    return True


_PLAIN_PROGRAM = r"""
import base64, json, os, subprocess, sys
etcdctl = "/usr/local/bin/etcdctl" if os.access("/usr/local/bin/etcdctl", os.X_OK) else "etcdctl"
pki = "/etc/kubernetes/pki/etcd/"
try:
    out = subprocess.run([etcdctl, "--endpoints=https://127.0.0.1:2379", "--cacert=" + pki + "ca.crt",
        "--cert=" + pki + "healthcheck-client.crt", "--key=" + pki + "healthcheck-client.key",
        "get", "/registry/" + sys.argv[1] + "/", "--prefix", "-w", "json"], capture_output=True, timeout=60,
        env={**os.environ, "ETCDCTL_API": "3"})
    kvs = json.loads(out.stdout).get("kvs") or []
except Exception:
    print(0)
else:
    print(sum(1 for kv in kvs if not base64.b64decode(kv.get("value", "")).startswith(b"k8s:enc:")))
"""


def _plain_count(host: Any, resource: str) -> int:
    """How many objects of ``resource`` etcd still holds unencrypted (0 when etcdctl is not on the node: the
    verification's live control reports that case). Only a count leaves the node."""
    from kubeharden.facts import _python_command

    _ok, output = host.run_shell_command(
        StringCommand(_python_command(_PLAIN_PROGRAM, resource)), print_output=False, print_input=False
    )
    lines = [line for line in output.stdout_lines if line.strip().isdigit()]
    return int(lines[-1]) if lines else 0


@operation(is_idempotent=False)
def rewrite_resources(resources: list[str]) -> Generator[PyinfraCommand, None, None]:
    """
    Rewrite every object of ``resources`` through the API (``kubectl get -A -o json | kubectl replace -f -``), so
    objects written before encryption was enabled, or with an older key, are stored with the first provider.
    Not idempotent (every run rewrites); the deploy calls it only when encryption was newly enabled. Objects are
    piped on the node, never printed; the count goes to the run's summary.

    + resources: e.g. ["secrets"] or ["secrets", "configmaps"]

    **Example:**

    .. code:: python

        rewrite_resources(name="1.2.27: rewrite existing secrets", resources=["secrets"])
    """
    yield FunctionCommand(_rewrite, (list(resources),), {})
