"""Runs ON a host, as the first part of the collector program (kubeharden.host.invoke puts it before
collector.py): secrets encryption at rest as seen from the host. The EncryptionConfiguration is parsed here, so only
its sha256, resources, provider types and key NAMES leave the host; raw etcd values are reduced to their
``k8s:enc:<provider>:v1:<key name>`` prefix; etcd's data directory is traced to its block device. Stdlib only,
Python 3.7+.
"""

from __future__ import annotations

import json
import os
import posixpath
import subprocess
from typing import Any

APISERVER_NAME = "kube-apiserver"


def argv_flag(argv: list[str], flag: str) -> str | None:
    """The last value of `--flag` in an argv (`--flag=v`, `--flag v`, `-flag=v`); enough to locate files."""
    key = flag.lstrip("-")
    value = None
    for index, word in enumerate(argv[1:], start=1):
        if not word.startswith("-"):
            continue
        name, equals, rest = word.lstrip("-").partition("=")
        if name != key:
            continue
        if equals:
            value = rest
        elif index + 1 < len(argv) and not argv[index + 1].startswith("-"):
            value = argv[index + 1]
        else:
            value = "true"
    return value


def encryption_state(spec: dict[str, Any], views: dict[str, tuple[list[str], str]], limit: int) -> dict[str, Any]:
    """The EncryptionConfiguration parsed HERE, on the host: only its sha256, resources, provider types and key
    NAMES leave the host (never a secret, never the text); the first bytes of sampled etcd values reduced to their
    `k8s:enc:<provider>:v1:<key name>` prefix; and whether etcd's data directory is on a dm-crypt device."""
    out: dict[str, Any] = {}
    argv, root = views[APISERVER_NAME]
    path = argv_flag(argv, "--encryption-provider-config")
    if path and path.startswith("/"):
        out["config"] = encryption_config(path, root, limit)
    if "etcd" in views:
        etcd_argv, etcd_root = views["etcd"]
        out["etcd"] = etcd_prefixes(
            etcd_argv, etcd_root, spec.get("resources", ["secrets"]), int(spec.get("sample", 20))
        )
        out["volume"] = data_dir_device(argv_flag(etcd_argv, "--data-dir") or "/var/lib/etcd")
    return out


def encryption_config(path: str, root: str, limit: int) -> dict[str, Any]:
    import hashlib

    found: dict[str, Any] = {"path": path}
    data = b""
    for prefix in (root, ""):
        try:
            with open(prefix + path, "rb") as fh:
                data = fh.read(limit + 1)
            break
        except FileNotFoundError:
            continue
        except OSError as exc:
            found["error"] = exc.strerror or type(exc).__name__
            return found
    else:
        found["missing"] = True
        return found
    if len(data) > limit:
        found["error"] = "larger than " + str(limit) + " bytes"
        return found
    found["sha256"] = hashlib.sha256(data).hexdigest()
    try:
        import yaml
    except ImportError:
        found["error"] = "python3 on the host has no PyYAML to parse the file"
        return found
    try:
        document = yaml.safe_load(data.decode("utf-8", "replace"))
    except yaml.YAMLError as exc:  # the message quotes the file: report only where
        mark = getattr(exc, "problem_mark", None)
        found["error"] = "not valid YAML" + (f" (line {mark.line + 1})" if mark is not None else "")
        return found
    if not isinstance(document, dict) or document.get("kind") != "EncryptionConfiguration":
        found["error"] = "not an EncryptionConfiguration"
        return found
    rules = []
    for rule in document.get("resources") or []:
        if not isinstance(rule, dict):
            continue
        providers = []
        for provider in rule.get("providers") or []:
            if not isinstance(provider, dict) or len(provider) != 1:
                providers.append({"type": "invalid", "keys": []})
                continue
            kind, body = next(iter(provider.items()))
            body = body if isinstance(body, dict) else {}
            if kind == "kms":
                names = [str(body.get("name", ""))]
                providers.append({"type": "kms", "keys": names, "api_version": str(body.get("apiVersion", "v1"))})
            else:
                names = [str(k.get("name", "")) for k in body.get("keys") or [] if isinstance(k, dict)]
                providers.append({"type": str(kind), "keys": names})
        rules.append({"resources": [str(r) for r in rule.get("resources") or []], "providers": providers})
    found["rules"] = rules
    return found


def _etcdctl() -> str | None:
    import shutil

    for candidate in (shutil.which("etcdctl"), "/usr/local/bin/etcdctl", "/usr/bin/etcdctl"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def etcd_prefixes(argv: list[str], root: str, resources: list[str], sample: int) -> dict[str, Any]:
    """Per resource: how many sampled raw values carry which `k8s:enc:...:<key name>` prefix (or `unencrypted`).
    Read with etcdctl and kubeadm's healthcheck-client certificate; values never leave this function."""
    etcdctl = _etcdctl()
    if etcdctl is None:
        return {"error": "etcdctl is not installed on the host (kubeadm does not install it)"}
    ca = argv_flag(argv, "--trusted-ca-file") or "/etc/kubernetes/pki/etcd/ca.crt"
    pki = posixpath.dirname(ca)

    def host_path(path: str) -> str:
        return root + path if root and os.path.exists(root + path) else path

    urls = [u for u in (argv_flag(argv, "--listen-client-urls") or "").split(",") if u.startswith("https://")]
    if not urls:
        return {"error": "etcd has no https client URL (--listen-client-urls) to read from"}
    endpoint = next((u for u in urls if "127.0.0.1" in u or "[::1]" in u), urls[0])
    out: dict[str, Any] = {}
    for resource in resources:
        command = [
            etcdctl,
            "--endpoints=" + endpoint,
            "--cacert=" + host_path(ca),
            "--cert=" + host_path(pki + "/healthcheck-client.crt"),
            "--key=" + host_path(pki + "/healthcheck-client.key"),
            "--command-timeout=15s",
            "get",
            "/registry/" + resource + "/",
            "--prefix",
            *(["--limit=" + str(sample)] if sample > 0 else []),
            "-w",
            "json",
        ]
        try:
            done = subprocess.run(command, capture_output=True, timeout=30, env={**os.environ, "ETCDCTL_API": "3"})
        except (OSError, subprocess.SubprocessError) as exc:
            out[resource] = {"error": "etcdctl could not run: " + type(exc).__name__}
            continue
        if done.returncode != 0:
            out[resource] = {"error": "etcdctl failed: " + done.stderr.decode("utf-8", "replace").strip()[-200:]}
            continue
        import base64

        counts: dict[str, int] = {}
        try:
            kvs = json.loads(done.stdout.decode()).get("kvs") or []
        except ValueError:
            out[resource] = {"error": "etcdctl printed no JSON"}
            continue
        for kv in kvs:
            value = base64.b64decode(kv.get("value", ""))[:64]
            if value.startswith(b"k8s:enc:"):
                parts = value.split(b":")
                prefix = b":".join(parts[:5]).decode("ascii", "replace") if len(parts) > 5 else "k8s:enc:(unknown)"
            else:
                prefix = "unencrypted"
            counts[prefix] = counts.get(prefix, 0) + 1
        out[resource] = {"sampled": len(kvs), "prefixes": counts}
    return out


def data_dir_device(path: str) -> dict[str, Any]:
    """Whether `path` lives on a dm-crypt device: its st_dev in /sys/dev/block, then dm/uuid CRYPT-... of it or
    of any device below it (LVM on LUKS)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return {"path": path, "error": exc.strerror or type(exc).__name__}
    major, minor = os.major(st.st_dev), os.minor(st.st_dev)
    device = f"{major}:{minor}"
    base = "/sys/dev/block/" + device
    if not os.path.exists(base):
        return {"path": path, "device": device, "encrypted": False, "reason": "not on a block device"}
    seen: list[str] = []
    todo = [os.path.realpath(base)]
    while todo:
        node = todo.pop()
        name = posixpath.basename(node)
        seen.append(name)
        try:
            with open(node + "/dm/uuid") as fh:
                if fh.read().startswith("CRYPT-"):
                    return {"path": path, "device": device, "encrypted": True, "chain": seen}
        except OSError:
            pass
        try:
            todo += [os.path.realpath(node + "/slaves/" + s) for s in os.listdir(node + "/slaves")]
        except OSError:
            pass
    return {"path": path, "device": device, "encrypted": False, "chain": seen, "reason": "no dm-crypt device"}
