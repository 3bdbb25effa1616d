"""Runs ON a host: one read-only pass over its Kubernetes state, printed as one JSON document (one line).

The ONE collector both ``kubeharden harden`` (as a pyinfra fact) and ``kubeharden verify`` (over SSH) use, sent the
same way every time (kubeharden.host.invoke: ``python3 -c`` with this source compressed, the spec as argv[1]), so a
host costs one remote command. Stdlib only and Python 3.7+ (the host's own python3). What the document holds is
declared in kubeharden/core/host_doc.py. It reads manifests, process command lines, the kubelet config and the
AuthenticationConfiguration/AdmissionConfiguration files (no secrets in them); key files are only stat'ed, never
read; the EncryptionConfiguration is parsed here so only its hash, provider types and key names leave the host,
unless the spec's ``secret_read`` asks for it (harden's key read-back, never verify). A path a running process
names is looked up through /proc/<pid>/root, the process's own view (its container's hostPath mounts). Anything
that cannot be read is reported as an error, never as an empty result.
"""

from __future__ import annotations

import glob
import grp
import json
import os
import posixpath
import pwd
import socket
import stat
import subprocess
import sys
from typing import Any

if "encryption_state" not in globals():  # run from its own file (tests): the package holds the first part
    from kubeharden.host.onhost.collector_encryption import APISERVER_NAME, argv_flag, encryption_state

MARKER = "KUBEHARDEN-STATE "
FORMAT = 2
NEVER_READ_SUFFIXES = (".key", ".pem")


def _argv(pid: str) -> list[str]:
    try:
        with open("/proc/" + pid + "/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    if not raw:
        return []
    return [word.decode("utf-8", "replace") for word in raw.rstrip(b"\0").split(b"\0")]


def find_processes(names: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Processes whose argv[0] basename is one of `names` (argv per process, never a grep over `ps` text)."""
    found: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        argv = _argv(entry)
        if argv and posixpath.basename(argv[0]) in found:
            found[posixpath.basename(argv[0])].append({"pid": int(entry), "argv": argv})
    for procs in found.values():
        procs.sort(key=lambda p: p["pid"])
    return found


def manifest_argv(text: str) -> list[str]:
    """The container command of a manifest, for locating files when the component is not running.

    PyYAML when the host has it; otherwise the `- --flag=value` items kubeadm writes, one per line.
    """
    try:
        import yaml

        doc = yaml.safe_load(text)
        container = doc["spec"]["containers"][0]
        return [str(w) for w in (container.get("command") or []) + (container.get("args") or [])]
    except Exception:
        words = ["manifest"]
        for line in text.splitlines():
            item = line.strip()
            if item.startswith("- -"):
                words.append(item[2:].strip().strip("'\""))
        return words


def _owner(uid: int, gid: int) -> tuple[str, str]:
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    try:
        group = grp.getgrgid(gid).gr_name
    except KeyError:
        group = str(gid)
    return user, group


def sha256_file(path: str) -> dict[str, Any]:
    import hashlib

    try:
        with open(path, "rb") as fh:
            return {"sha256": hashlib.sha256(fh.read()).hexdigest()}
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}


def read_secret(path: str, limit: int) -> dict[str, Any]:
    """A file read back WITH its content (harden reuses the EncryptionConfiguration's keys, never replaces them)."""
    import hashlib

    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        return {"missing": True}
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}
    if len(data) > limit:
        return {"error": "larger than " + str(limit) + " bytes"}
    return {"sha256": hashlib.sha256(data).hexdigest(), "text": data.decode("utf-8", "replace")}


def stat_path(path: str, root: str = "") -> dict[str, Any]:
    """Mode and owner of a file (following symlinks); `root` is a /proc/<pid>/root prefix or empty."""
    try:
        st = os.stat(root + path)
    except FileNotFoundError:
        return {"exists": False}
    except OSError as exc:
        return {"exists": False, "error": exc.strerror or str(exc)}
    user, group = _owner(st.st_uid, st.st_gid)
    kind = "dir" if stat.S_ISDIR(st.st_mode) else "file" if stat.S_ISREG(st.st_mode) else "other"
    return {
        "exists": True,
        "mode": format(stat.S_IMODE(st.st_mode), "o"),
        "uid": st.st_uid,
        "gid": st.st_gid,
        "user": user,
        "group": group,
        "kind": kind,
        "via": "process root" if root else "host",
    }


def read_text(path: str, root: str, limit: int) -> dict[str, Any]:
    if path.endswith(NEVER_READ_SUFFIXES):
        return {"error": "refused to read a key file"}
    try:
        with open(root + path, "rb") as fh:
            data = fh.read(limit + 1)
    except FileNotFoundError:
        return {"missing": True}
    except OSError as exc:
        return {"error": exc.strerror or str(exc)}
    if len(data) > limit:
        return {"error": "larger than " + str(limit) + " bytes"}
    return {"text": data.decode("utf-8", "replace"), "via": "process root" if root else "host"}


def plugin_paths(text: str, base: str) -> list[str]:
    """Files an AdmissionConfiguration's plugins name with `path:` (relative to the config's directory)."""
    paths: list[str] = []
    try:
        import yaml

        doc = yaml.safe_load(text)
        paths = [str(p["path"]) for p in doc.get("plugins") or [] if isinstance(p, dict) and p.get("path")]
    except Exception:
        for line in text.splitlines():
            key, _, value = line.strip().lstrip("- ").partition(":")
            if key == "path" and value.strip():
                paths.append(value.strip().strip("'\""))
    return [p if p.startswith("/") else posixpath.normpath(posixpath.join(base, p)) for p in paths]


def listeners() -> dict[str, Any]:
    """TCP listening sockets: `ss -ltnH`, or /proc/net/tcp{,6} where ss is missing."""
    try:
        out = subprocess.run(["ss", "-ltnH"], capture_output=True, timeout=20, check=True)
        found = []
        for line in out.stdout.decode("utf-8", "replace").splitlines():
            parts = line.split()
            if len(parts) >= 4:
                addr, _, port = parts[3].rpartition(":")
                addr = addr.strip("[]").split("%")[0]
                if port.isdigit():
                    found.append([addr, int(port)])
        return {"listeners_source": "ss -ltnH", "listeners": found}
    except (OSError, subprocess.SubprocessError):
        pass
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 3 and cols[3] == "0A":
                hexaddr, hexport = cols[1].split(":")
                raw = bytes.fromhex(hexaddr)
                if len(raw) == 4:
                    addr = socket.inet_ntop(socket.AF_INET, raw[::-1])
                else:
                    words = b"".join(raw[i : i + 4][::-1] for i in range(0, 16, 4))
                    addr = socket.inet_ntop(socket.AF_INET6, words)
                found.append([addr, int(hexport, 16)])
    return {"listeners_source": "/proc/net/tcp", "listeners": found}


def _components(spec: dict[str, Any], procs: dict[str, Any], limit: int, doc: dict[str, Any]) -> dict[str, Any]:
    """Each component's manifest and processes; returns component -> (argv, root) as the component sees files."""
    views: dict[str, tuple[list[str], str]] = {}
    for name in spec["components"]:
        path = posixpath.join(spec["manifest_dir"], name + ".yaml")
        comp: dict[str, Any] = {"manifest_path": path, "processes": procs[name]}
        manifest = read_text(path, "", limit)
        if "text" in manifest:
            comp["manifest"] = manifest["text"]
        elif "error" in manifest:
            comp["manifest_error"] = manifest["error"]
        wanted_env = spec.get("env", {}).get(name) or []
        if procs[name] and wanted_env:
            comp["env"] = _environ(procs[name][0]["pid"], wanted_env)
        doc["components"][name] = comp
        if procs[name]:
            views[name] = (procs[name][0]["argv"], "/proc/" + str(procs[name][0]["pid"]) + "/root")
        elif "manifest" in comp:
            views[name] = (manifest_argv(comp["manifest"]), "")
    return views


def _files(spec: dict[str, Any], limit: int, doc: dict[str, Any]) -> None:
    for path in spec.get("stat_paths", []):
        doc["files"][path] = stat_path(path)
    for path in spec.get("hash_paths", []):
        found = stat_path(path)
        if found.get("kind") == "file":
            found.update(sha256_file(path))
        doc["files"][path] = found
    if spec.get("secret_read"):
        doc["secrets"] = {path: read_secret(path, limit) for path in spec["secret_read"]}
    for pattern in spec.get("stat_globs", []):
        matches = sorted(glob.glob(pattern, recursive=True))
        doc["globs"][pattern] = matches
        for path in matches:
            doc["files"][path] = stat_path(path)


def _flag_files(spec: dict[str, Any], views: dict[str, Any], limit: int, doc: dict[str, Any]) -> None:
    """Files named by flags: stat'ed (as the process sees them), config files read (never key material)."""
    never = set()
    for component, flag in spec.get("never_read_flags", []):
        value = argv_flag(views[component][0], flag) if component in views else None
        if value:
            never.add(value)
    for component, flag in spec.get("stat_flags", []):
        if component not in views:
            continue
        argv, root = views[component]
        value = argv_flag(argv, flag)
        if value and value.startswith("/"):
            found = stat_path(value, root)
            found = found if found.get("exists") or not root else stat_path(value)
            known = doc["files"].get(value) or {}
            if "sha256" in known:  # hashed on the host already (hash_paths): keep it
                found["sha256"] = known["sha256"]
            doc["files"][value] = found
    for component, flag in spec.get("read_flags", []):
        if component not in views:
            continue
        argv, root = views[component]
        value = argv_flag(argv, flag)
        if not value or not value.startswith("/") or value in never:
            continue
        known = doc["files"].get(value) or {}
        doc["files"][value] = stat_path(value, root)
        if "sha256" in known:
            doc["files"][value]["sha256"] = known["sha256"]
        doc["configs"][value] = read_text(value, root, limit)
        text = doc["configs"][value].get("text")
        if text and flag == "--admission-control-config-file":
            for extra in plugin_paths(text, posixpath.dirname(value)):
                if extra not in never:
                    doc["configs"][extra] = read_text(extra, root, limit)


def _kubelet(spec: dict[str, Any], procs: dict[str, Any], limit: int) -> dict[str, Any]:
    kubelet = procs["kubelet"]
    config_path = spec.get("kubelet_config", "/var/lib/kubelet/config.yaml")
    if kubelet:
        config_path = argv_flag(kubelet[0]["argv"], "--config") or config_path
    found: dict[str, Any] = {"processes": kubelet, "config_path": config_path}
    config = read_text(config_path, "", limit)
    if "text" in config:
        found["config"] = config["text"]
    # what systemd would start when no kubelet runs: the unit first, then its drop-ins by file name
    units: list[str] = []
    for pattern in spec.get("kubelet_units", []):
        units += [p for p in sorted(glob.glob(pattern)) if p not in units and os.path.isfile(p)]
    units.sort(key=lambda p: (p.endswith(".conf"), os.path.basename(p)))
    found["units"] = {p: read_text(p, "", limit).get("text", "") for p in units}
    found["env_files"] = {}
    for path in spec.get("kubelet_env_files", []):
        text = read_text(path, "", limit)
        if "text" in text:
            found["env_files"][path] = text["text"]
    return found


def _probe_kubelet(address: str, timeout: float = 3.0) -> dict[str, Any]:
    """What an anonymous client gets from a kubelet: GET https://ADDR:10250/pods (no client certificate, no server
    verification: nothing is sent but the request) and GET http://ADDR:10255/pods."""
    import http.client
    import ssl

    found: dict[str, Any] = {}
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for name, conn in (
        ("anonymous", http.client.HTTPSConnection(address, 10250, context=context, timeout=timeout)),
        ("read_only", http.client.HTTPConnection(address, 10255, timeout=timeout)),
    ):
        try:
            conn.request("GET", "/pods")
            found[name] = {"status": conn.getresponse().status}
        except ConnectionRefusedError:
            found[name] = {"error": "connection refused"}
        except (TimeoutError, OSError) as exc:
            found[name] = {"error": "no answer (filtered or down)" if isinstance(exc, TimeoutError) else str(exc)}
        except http.client.HTTPException as exc:
            found[name] = {"error": type(exc).__name__}
        finally:
            conn.close()
    return found


def kubelet_probes(targets: list[str]) -> dict[str, Any]:
    """Every node's kubelet probed from here (a control plane), in parallel."""
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(16, max(len(targets), 1))) as pool:
        return dict(zip(targets, pool.map(_probe_kubelet, targets), strict=True))


def collect(spec: dict[str, Any]) -> dict[str, Any]:
    limit = int(spec.get("max_bytes", 262144))
    procs = find_processes([*spec["components"], "kubelet"])
    doc: dict[str, Any] = {
        "format": FORMAT,
        "hostname": socket.gethostname(),
        "python": sys.version.split()[0],
        "uid": os.geteuid(),
        "components": {},
        "files": {},
        "globs": {},
        "configs": {},
        "errors": [],
    }
    views = _components(spec, procs, limit, doc)
    _files(spec, limit, doc)
    _flag_files(spec, views, limit, doc)
    doc["kubelet"] = _kubelet(spec, procs, limit)
    if spec.get("encryption") and APISERVER_NAME in views:
        doc["encryption"] = encryption_state(spec["encryption"], views, limit)
    if spec.get("firewall"):
        doc["firewall"] = firewall_state(spec["firewall"])
    if spec.get("kubeadm_config"):
        doc["kubeadm_config"] = kubeadm_cluster_configuration()
        doc["kubelet_configmap"] = kubeadm_cluster_configuration("kubelet-config", "kubelet")
    if spec.get("kubelet_probe_targets") and os.path.exists(os.path.join(spec["manifest_dir"], "kube-apiserver.yaml")):
        doc["kubelet_probes"] = kubelet_probes(list(spec["kubelet_probe_targets"]))
    doc.update(listeners())
    return doc


def kubeadm_cluster_configuration(
    configmap: str = "kubeadm-config", key: str = "ClusterConfiguration"
) -> dict[str, Any]:
    """A document of one of kubeadm's ConfigMaps (kubeadm-config's ClusterConfiguration, kubelet-config's kubelet),
    read through admin.conf."""
    command = [
        "kubectl",
        "--kubeconfig",
        "/etc/kubernetes/admin.conf",
        "--request-timeout=20s",
        "-n",
        "kube-system",
        "get",
        "configmap",
        configmap,
        "-o",
        "jsonpath={.data." + key + "}",
    ]
    try:
        done = subprocess.run(command, capture_output=True, timeout=40)
    except (OSError, subprocess.SubprocessError) as exc:
        return {"error": "kubectl could not run: " + type(exc).__name__}
    if done.returncode != 0:
        return {"error": "kubectl failed: " + done.stderr.decode("utf-8", "replace").strip()[-300:]}
    text = done.stdout.decode("utf-8", "replace")
    return {"text": text} if text.strip() else {"missing": True}


def _nft() -> str | None:
    import shutil

    for candidate in (shutil.which("nft"), "/usr/sbin/nft", "/sbin/nft"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def firewall_state(spec: dict[str, Any]) -> dict[str, Any]:
    """kubeharden's nftables table as loaded (`nft -j`, our table only), what kubeharden recorded after its last
    confirmed load, its persisted file (stat and sha256), whether /etc/nftables.conf includes it and whether
    nftables.service is enabled."""
    out: dict[str, Any] = {"nft": _nft(), "loaded": None, "include": False, "service": None, "state": None}
    if out["nft"] is None:
        out["nft_error"] = "nft is not installed"
    else:
        try:
            proc = subprocess.run(
                [out["nft"], "-j", "list", "table", "inet", spec["table"]], capture_output=True, timeout=20
            )
            out["loaded"] = proc.stdout.decode("utf-8", "replace") if proc.returncode == 0 else None
            out["nft_error"] = proc.stderr.decode("utf-8", "replace").strip()[-300:] if proc.returncode else ""
        except (OSError, subprocess.SubprocessError) as exc:
            out["nft_error"] = str(exc)
    out["persist"] = stat_path(spec["persist"])
    if out["persist"].get("kind") == "file":
        out["persist"].update(sha256_file(spec["persist"]))
    try:
        with open(spec["state_file"]) as fh:
            out["state"] = json.load(fh)
    except (OSError, ValueError, KeyError):
        pass
    try:
        with open(spec["conf"]) as fh:
            out["include"] = any(line.strip() == spec["include"] for line in fh)
    except OSError:
        pass
    try:
        proc = subprocess.run(["systemctl", "is-enabled", "nftables.service"], capture_output=True, timeout=20)
        out["service"] = proc.stdout.decode("utf-8", "replace").strip() or None
    except (OSError, subprocess.SubprocessError):
        pass
    return out


def _environ(pid: int, wanted: list[str]) -> dict[str, str]:
    """Only the named variables (ETCD_* settings); the rest of a process's environment is none of our business."""
    try:
        with open("/proc/" + str(pid) + "/environ", "rb") as fh:
            raw = fh.read()
    except OSError:
        return {}
    found = {}
    for item in raw.split(b"\0"):
        key, _, value = item.decode("utf-8", "replace").partition("=")
        if key in wanted:
            found[key] = value
    return found


def main(spec_json: str) -> None:
    try:
        doc = collect(json.loads(spec_json))
    except Exception as exc:
        doc = {"format": FORMAT, "fatal": type(exc).__name__ + ": " + str(exc)}
    sys.stdout.write(MARKER + json.dumps(doc, sort_keys=True) + "\n")


if __name__ == "__main__" and len(sys.argv) > 1:
    import base64

    main(base64.b64decode(sys.argv[1]).decode())
