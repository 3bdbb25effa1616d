#!/usr/bin/python3
"""Lab static-pod runner: the kubeharden lab's clearly-named stand-in for the kubelet's static-pod role.

TEST INFRASTRUCTURE, not a product feature. Lab hosts have no kubelet and no container runtime, yet the
hardening edits static pod manifests and must fail in the lab exactly where it would fail on a real node.
So this runner does what the kubelet does with /etc/kubernetes/manifests, as far as a hardening can tell:

* every non-hidden regular file there is a pod (a ``kube-apiserver.yaml.bak`` starts a second apiserver);
* an invalid Pod (e.g. a volume without a name) is refused, unknown fields are ignored (but named in the log);
* the container sees only a runtime's minimum (/proc, read-only /sys, a minimal /dev, /etc/hosts,
  /etc/hostname, /etc/resolv.conf), the image's binaries in /usr/local/bin and the manifest's hostPath
  volumes (so a flag pointing at a file outside every volume fails like on a real node);
* hostPath types are checked or created like the kubelet; startup, liveness and readiness probes run with the
  kubelet's defaults and semantics (HTTP 200-399 is success, TLS is not verified, liveness only after startup);
* a dead or liveness-killed container is restarted with the kubelet's CrashLoopBackOff.

Deviations from the kubelet, on purpose and documented:

* CrashLoopBackOff is capped at 40 s instead of 300 s (first restart immediate, then 10, 20, 40, 40 ... s,
  reset after the container ran 10 min), so recovery tests in the lab stay quick.
* exec probes cannot be run (there is no runtime to exec into the container): they log a warning and count as
  success. gRPC probes are approximated by a TCP connect to their port (and say so).
* Every pod shares the node's network (all control-plane static pods are hostNetwork anyway); there are no
  cgroups or resource limits, no image pulls (the "image" selects binaries the lab built, see `image_binaries`),
  only hostPath and emptyDir volumes, and no init containers.

Layout: pure, tested logic first (`validate_pod`, `unknown_fields`, `plan_container`, `image_binaries`,
`probe_result`, `ProbeState`, `crashloop_delay`), then the probes, then the ``--exec`` launcher that builds a
container's view in a private mount namespace, then the runner (one thread per pod, a scanning main loop).
It is one self-contained file (stdlib + PyYAML) because it is copied into each lab host and run there with
/usr/bin/python3; importing it has no side effects so the project's tests can use it directly.

Paths (environment overrides for tests): manifests /etc/kubernetes/manifests (KUBEHARDEN_LAB_MANIFESTS),
binaries /opt/kubeharden-lab/bin (KUBEHARDEN_LAB_BIN), node IP from /etc/kubeharden-lab/node.json
(KUBEHARDEN_LAB_NODE_JSON), status /run/kubeharden-lab/pods/<manifest>.json (KUBEHARDEN_LAB_RUN), logs
/var/log/kubeharden-lab/<manifest>.log (KUBEHARDEN_LAB_LOGS).
"""

from __future__ import annotations

import ctypes
import datetime
import hashlib
import http.client
import json
import logging
import os
import platform
import queue
import re
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, NoReturn

import yaml

LOG = logging.getLogger("kubeharden-lab-static-pods")

DEFAULT_MANIFESTS = "/etc/kubernetes/manifests"
DEFAULT_BIN_ROOT = "/opt/kubeharden-lab/bin"
DEFAULT_NODE_JSON = "/etc/kubeharden-lab/node.json"
DEFAULT_RUN_DIR = "/run/kubeharden-lab"
DEFAULT_LOG_DIR = "/var/log/kubeharden-lab"
FALLBACK_NODE_IP = "127.0.0.1"

CONTAINER_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE_BIN_DIR = "/usr/local/bin"
K8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kube-proxy")
ETCD_IMAGE_BINARIES = ("etcd", "etcdctl")
HOSTPATH_TYPES = ("", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice")
EMPTY_DIR = "emptyDir"
RUNTIME_FILES = ("/etc/hosts", "/etc/hostname", "/etc/resolv.conf")
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
PROBE_KINDS = ("startup", "liveness", "readiness")
PROBE_FIELDS = {"startup": "startupProbe", "liveness": "livenessProbe", "readiness": "readinessProbe"}

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 40.0  # the kubelet's is 300 s; see the module docstring
BACKOFF_RESET_AFTER = 600.0
SETUP_RETRY_SECONDS = 5.0
DEFAULT_GRACE_SECONDS = 30.0
MIN_GRACE_SECONDS = 2.0  # the kubelet never kills with less than 2 s of grace
POLL_SECONDS = 1.0
TAIL_LINES = 20
PROBE_BODY_LIMIT = 10 * 1024
MAX_REDIRECTS = 10


class PlanError(ValueError):
    """The manifest cannot be turned into a container (invalid pod, or something the lab cannot run)."""


class SetupError(RuntimeError):
    """The node is not ready for the container (missing binaries, a hostPath of the wrong type); retried."""


# --------------------------------------------------------------------------------------------------------------
# Known Pod fields: the kubelet ignores unknown ones; the runner names them so a misspelling does not go unseen.
# --------------------------------------------------------------------------------------------------------------

_POD_KNOWN = frozenset({"apiVersion", "kind", "metadata", "spec", "status"})
_METADATA_KNOWN = frozenset(
    {
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
        "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations",
        "ownerReferences", "finalizers", "managedFields",
    }
)  # fmt: skip
_SPEC_KNOWN = frozenset(
    {
        "volumes", "initContainers", "containers", "ephemeralContainers", "restartPolicy",
        "terminationGracePeriodSeconds", "activeDeadlineSeconds", "dnsPolicy", "nodeSelector",
        "serviceAccountName", "serviceAccount", "automountServiceAccountToken", "nodeName", "hostNetwork",
        "hostPID", "hostIPC", "shareProcessNamespace", "securityContext", "imagePullSecrets", "hostname",
        "subdomain", "affinity", "schedulerName", "tolerations", "hostAliases", "priorityClassName", "priority",
        "dnsConfig", "readinessGates", "runtimeClassName", "enableServiceLinks", "preemptionPolicy", "overhead",
        "topologySpreadConstraints", "setHostnameAsFQDN", "os", "hostUsers", "schedulingGates", "resourceClaims",
        "resources", "hostnameOverride",
    }
)  # fmt: skip
_CONTAINER_KNOWN = frozenset(
    {
        "name", "image", "command", "args", "workingDir", "ports", "envFrom", "env", "resources", "resizePolicy",
        "restartPolicy", "restartPolicyRules", "volumeMounts", "volumeDevices", "livenessProbe",
        "readinessProbe", "startupProbe", "lifecycle", "terminationMessagePath", "terminationMessagePolicy",
        "imagePullPolicy", "securityContext", "stdin", "stdinOnce", "tty",
    }
)  # fmt: skip
_VOLUME_MOUNT_KNOWN = frozenset(
    {"name", "readOnly", "recursiveReadOnly", "mountPath", "subPath", "mountPropagation", "subPathExpr"}
)
_VOLUME_KNOWN = frozenset(
    {
        "name", "hostPath", "emptyDir", "gcePersistentDisk", "awsElasticBlockStore", "gitRepo", "secret", "nfs",
        "iscsi", "glusterfs", "persistentVolumeClaim", "rbd", "flexVolume", "cinder", "cephfs", "flocker",
        "downwardAPI", "fc", "azureFile", "configMap", "vsphereVolume", "quobyte", "azureDisk",
        "photonPersistentDisk", "projected", "portworxVolume", "scaleIO", "storageos", "csi", "ephemeral", "image",
    }
)  # fmt: skip
_HOSTPATH_KNOWN = frozenset({"path", "type"})
_PROBE_KNOWN = frozenset(
    {
        "exec", "httpGet", "tcpSocket", "grpc", "initialDelaySeconds", "timeoutSeconds", "periodSeconds",
        "successThreshold", "failureThreshold", "terminationGracePeriodSeconds",
    }
)  # fmt: skip
_PROBE_HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")
_HTTP_GET_KNOWN = frozenset({"path", "port", "host", "scheme", "httpHeaders"})
_TCP_KNOWN = frozenset({"port", "host"})
_PORT_KNOWN = frozenset({"name", "hostPort", "containerPort", "protocol", "hostIP"})
_ENV_KNOWN = frozenset({"name", "value", "valueFrom"})


def _unknown(obj: object, known: frozenset[str], where: str, out: list[str]) -> None:
    if isinstance(obj, dict):
        out.extend(f"{where}.{key}" if where else str(key) for key in obj if key not in known)


def _dict_items(obj: object) -> list[tuple[int, dict[str, Any]]]:
    """The mapping entries of a YAML list (anything else is skipped: validate_pod reports it)."""
    if not isinstance(obj, list):
        return []
    return [(i, item) for i, item in enumerate(obj) if isinstance(item, dict)]


def unknown_fields(manifest: object) -> list[str]:
    """Field paths the kubelet would silently ignore (e.g. a misspelled ``readOnly``)."""
    out: list[str] = []
    if not isinstance(manifest, dict):
        return out
    _unknown(manifest, _POD_KNOWN, "", out)
    _unknown(manifest.get("metadata"), _METADATA_KNOWN, "metadata", out)
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        return out
    _unknown(spec, _SPEC_KNOWN, "spec", out)
    for i, vol in _dict_items(spec.get("volumes")):
        _unknown(vol, _VOLUME_KNOWN, f"spec.volumes[{i}]", out)
        _unknown(vol.get("hostPath"), _HOSTPATH_KNOWN, f"spec.volumes[{i}].hostPath", out)
    for group in ("initContainers", "containers"):
        for ci, container in _dict_items(spec.get(group)):
            where = f"spec.{group}[{ci}]"
            _unknown(container, _CONTAINER_KNOWN, where, out)
            for mi, mount in _dict_items(container.get("volumeMounts")):
                _unknown(mount, _VOLUME_MOUNT_KNOWN, f"{where}.volumeMounts[{mi}]", out)
            for pi, port in _dict_items(container.get("ports")):
                _unknown(port, _PORT_KNOWN, f"{where}.ports[{pi}]", out)
            for ei, env in _dict_items(container.get("env")):
                _unknown(env, _ENV_KNOWN, f"{where}.env[{ei}]", out)
            for field_name in PROBE_FIELDS.values():
                probe = container.get(field_name)
                _unknown(probe, _PROBE_KNOWN, f"{where}.{field_name}", out)
                if isinstance(probe, dict):
                    _unknown(probe.get("httpGet"), _HTTP_GET_KNOWN, f"{where}.{field_name}.httpGet", out)
                    _unknown(probe.get("tcpSocket"), _TCP_KNOWN, f"{where}.{field_name}.tcpSocket", out)
    return out


# --------------------------------------------------------------------------------------------------------------
# Validation: what the kubelet (and the apiserver's Pod validation it applies to static pods) refuses.
# --------------------------------------------------------------------------------------------------------------


def _is_str_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _has_backsteps(path: str) -> bool:
    return ".." in path.split("/")


def _validate_probe(raw: object, where: str, kind: str) -> list[str]:
    if not isinstance(raw, dict):
        return [f"{where}: must be a mapping"]
    errors: list[str] = []
    handlers = [h for h in _PROBE_HANDLERS if raw.get(h) is not None]
    if not handlers:
        errors.append(f"{where}: Required value: must specify a handler type (exec, httpGet, tcpSocket or grpc)")
    elif len(handlers) > 1:
        errors.append(f"{where}.{handlers[1]}: Forbidden: may not specify more than 1 handler type")
    for key in ("initialDelaySeconds", "timeoutSeconds", "periodSeconds", "successThreshold", "failureThreshold"):
        value = raw.get(key)
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            errors.append(f"{where}.{key}: Invalid value: {value!r}: must be a non-negative integer")
    if kind in ("liveness", "startup") and raw.get("successThreshold") not in (None, 0, 1):
        errors.append(f"{where}.successThreshold: Invalid value: {raw.get('successThreshold')!r}: must be 1")
    http_get = raw.get("httpGet")
    if isinstance(http_get, dict):
        if http_get.get("port") in (None, ""):
            errors.append(f"{where}.httpGet.port: Required value")
        scheme = http_get.get("scheme")
        if scheme is not None and scheme not in ("HTTP", "HTTPS"):
            errors.append(f'{where}.httpGet.scheme: Unsupported value: {scheme!r}: supported values: "HTTP", "HTTPS"')
    tcp = raw.get("tcpSocket")
    if isinstance(tcp, dict) and tcp.get("port") in (None, ""):
        errors.append(f"{where}.tcpSocket.port: Required value")
    return errors


def validate_pod(manifest: object) -> list[str]:
    """Reasons the kubelet would refuse this static pod (empty list: valid enough to run).

    Checks what a hardening edit can break: Pod identity, containers, volume names (non-empty, unique),
    volumeMounts that name an existing volume at an absolute path, hostPath paths and types, probe handlers.
    """
    if not isinstance(manifest, dict):
        return ["the manifest is not a YAML mapping (a Pod object)"]
    errors: list[str] = []
    if manifest.get("apiVersion") != "v1":
        errors.append(f"apiVersion: Unsupported value: {manifest.get('apiVersion')!r}: must be v1")
    if manifest.get("kind") != "Pod":
        errors.append(f"kind: Unsupported value: {manifest.get('kind')!r}: must be Pod")
    meta = manifest.get("metadata")
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        errors.append("metadata.name: Required value")
    spec = manifest.get("spec")
    if not isinstance(spec, dict):
        errors.append("spec: Required value")
        return errors

    volume_names: set[str] = set()
    volumes = spec.get("volumes")
    if volumes is not None and not isinstance(volumes, list):
        errors.append("spec.volumes: must be a list")
        volumes = []
    for i, vol in enumerate(volumes or []):
        where = f"spec.volumes[{i}]"
        if not isinstance(vol, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        vname = vol.get("name")
        if not isinstance(vname, str) or not vname:
            errors.append(f"{where}.name: Required value (a volume without a name)")
        elif vname in volume_names:
            errors.append(f"{where}.name: Duplicate value: {vname!r}")
        else:
            volume_names.add(vname)
        host_path = vol.get("hostPath")
        if host_path is None:
            continue
        if not isinstance(host_path, dict):
            errors.append(f"{where}.hostPath: must be a mapping")
            continue
        path = host_path.get("path")
        if not isinstance(path, str) or not path:
            errors.append(f"{where}.hostPath.path: Required value")
        elif not path.startswith("/"):
            errors.append(f"{where}.hostPath.path: Invalid value: {path!r}: must be an absolute path")
        elif _has_backsteps(path):
            errors.append(f"{where}.hostPath.path: Invalid value: {path!r}: must not contain '..'")
        htype = host_path.get("type")
        if htype is not None and htype not in HOSTPATH_TYPES:
            supported = ", ".join(f'"{t}"' for t in HOSTPATH_TYPES)
            errors.append(f"{where}.hostPath.type: Unsupported value: {htype!r}: supported values: {supported}")

    containers = spec.get("containers")
    if not isinstance(containers, list) or not containers:
        errors.append("spec.containers: Required value")
        return errors
    for ci, container in enumerate(containers):
        where = f"spec.containers[{ci}]"
        if not isinstance(container, dict):
            errors.append(f"{where}: must be a mapping")
            continue
        if not isinstance(container.get("name"), str) or not container.get("name"):
            errors.append(f"{where}.name: Required value")
        if not isinstance(container.get("image"), str) or not container.get("image"):
            errors.append(f"{where}.image: Required value")
        for key in ("command", "args"):
            value = container.get(key)
            if value is not None and not _is_str_list(value):
                errors.append(f"{where}.{key}: must be a list of strings (quote numbers and booleans)")
        mount_paths: set[str] = set()
        mounts = container.get("volumeMounts")
        if mounts is not None and not isinstance(mounts, list):
            errors.append(f"{where}.volumeMounts: must be a list")
            mounts = []
        for mi, mount in enumerate(mounts or []):
            mwhere = f"{where}.volumeMounts[{mi}]"
            if not isinstance(mount, dict):
                errors.append(f"{mwhere}: must be a mapping")
                continue
            mname = mount.get("name")
            if not isinstance(mname, str) or not mname:
                errors.append(f"{mwhere}.name: Required value")
            elif mname not in volume_names:
                errors.append(f"{mwhere}.name: Not found: {mname!r} (no volume of that name)")
            mpath = mount.get("mountPath")
            if not isinstance(mpath, str) or not mpath:
                errors.append(f"{mwhere}.mountPath: Required value")
            elif not mpath.startswith("/"):
                errors.append(f"{mwhere}.mountPath: Invalid value: {mpath!r}: must be an absolute path")
            elif os.path.normpath(mpath) in mount_paths:
                errors.append(f"{mwhere}.mountPath: Invalid value: {mpath!r}: must be unique")
            else:
                mount_paths.add(os.path.normpath(mpath))
            sub_path = mount.get("subPath")
            if sub_path is not None and not isinstance(sub_path, str):
                errors.append(f"{mwhere}.subPath: must be a string")
            elif sub_path and (sub_path.startswith("/") or _has_backsteps(sub_path)):
                errors.append(f"{mwhere}.subPath: Invalid value: {sub_path!r}: must be a relative path without '..'")
        for kind, field_name in PROBE_FIELDS.items():
            if container.get(field_name) is not None:
                errors.extend(_validate_probe(container[field_name], f"{where}.{field_name}", kind))
    return errors


# --------------------------------------------------------------------------------------------------------------
# Images: the lab has no registry; an image tag selects binaries the lab built.
# --------------------------------------------------------------------------------------------------------------


class ImageRef(NamedTuple):
    """What an image means in the lab: which component, which version, which binary directory."""

    image: str
    component: str
    version: str
    directory: str
    names: tuple[str, ...]


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.lstrip("v").split("."))
    except ValueError:
        return (0,)


def _release(tag: str) -> str | None:
    """v1.34.4 -> v1.34.4, 3.6.5-0 -> v3.6.5 (the etcd image's -N suffix is the image build, not etcd's)."""
    core = tag[1:] if tag.startswith("v") else tag
    if "-" in core:
        core, _, build = core.partition("-")
        if not build.isdigit():
            return None
    parts = core.split(".")
    if len(parts) != 3 or not all(part.isdigit() for part in parts):
        return None
    return "v" + core


def parse_image(image: str) -> ImageRef:
    """registry.k8s.io/kube-apiserver:v1.34.4 -> kube-apiserver in kubernetes-v1.34.4 (registry is ignored)."""
    ref = image.split("@", 1)[0]
    last = ref.rsplit("/", 1)[-1]
    name, _, tag = last.partition(":")
    lab_images = ", ".join((*K8S_COMPONENTS, "etcd"))
    if name not in K8S_COMPONENTS and name != "etcd":
        raise PlanError(f"image {image}: the lab provides only the {lab_images} images")
    version = _release(tag)
    if version is None or (name != "etcd" and not tag.startswith("v")) or (name != "etcd" and "-" in tag):
        raise PlanError(f"image {image}: tag {tag or '(none)'!r} does not name a release the lab can build")
    if name == "etcd":
        return ImageRef(image, name, version, f"etcd-{version}", ETCD_IMAGE_BINARIES)
    return ImageRef(image, name, version, f"kubernetes-{version}", (name,))


def image_binaries(image: str, bin_root: str) -> dict[str, str]:
    """The image's binaries as {path in the container: path on the node}; existence is checked at start."""
    ref = parse_image(image)
    return {f"{IMAGE_BIN_DIR}/{name}": os.path.join(bin_root, ref.directory, name) for name in ref.names}


def missing_image_error(image: str, bin_root: str) -> str | None:
    """None if the lab has the image's binaries, else the sentence the pod's status and log show."""
    ref = parse_image(image)
    missing = [src for src in image_binaries(image, bin_root).values() if not os.path.isfile(src)]
    if not missing:
        return None
    prefix = ref.directory[: ref.directory.index("-v") + 1]
    try:
        entries = os.listdir(bin_root)
    except OSError:
        entries = []
    entries = [e for e in entries if e.startswith(prefix)]
    available = sorted(
        (e[len(prefix) :] for e in entries if os.path.isfile(os.path.join(bin_root, e, ref.component))),
        key=_version_tuple,
    )
    what = os.path.basename(missing[0])
    return f"image {image}: the lab has no {what} {ref.version} (available: {', '.join(available) or 'none'})"


# --------------------------------------------------------------------------------------------------------------
# The plan: a manifest translated into what to run, with what it sees, and how to probe it.
# --------------------------------------------------------------------------------------------------------------


class Mount(NamedTuple):
    """One volumeMount: bind `src` (hostPath.path + subPath) of the node at `dst` in the container."""

    src: str
    dst: str
    readonly: bool
    hostpath_type: str  # the volume's hostPath.type ("" when unset), or "emptyDir"
    volume: str = ""
    sub_path: str = ""


class Volume(NamedTuple):
    """A pod volume the runner can provide: a hostPath (path, type) or an emptyDir (path "", type emptyDir)."""

    path: str
    type: str


@dataclass(frozen=True)
class Probe:
    """One probe with the kubelet's defaults applied; `port` is a str only when a named port did not resolve."""

    kind: str
    action: str  # httpGet | tcpSocket | exec | grpc
    scheme: str = "HTTP"
    host: str = ""
    port: int | str = 0
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    command: tuple[str, ...] = ()
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    failure_threshold: int = 3
    success_threshold: int = 1
    termination_grace: float | None = None


@dataclass
class ContainerPlan:
    """Everything needed to start containers[0] of a static pod, computed without touching the node."""

    pod: str
    namespace: str
    container: str
    image: str
    argv: list[str]
    env: dict[str, str]
    workdir: str
    binaries: dict[str, str]
    mounts: list[Mount]
    volumes: dict[str, Volume]
    probes: dict[str, Probe]
    grace_seconds: float
    node_ip: str
    warnings: list[str] = field(default_factory=list)


def expand_vars(text: str, env: Mapping[str, str]) -> str:
    """The kubelet's $(VAR) expansion in command, args and env values; $$ escapes, unknown $(X) stays."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(env[name] if name in env else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def resolve_port(port: object, container: Mapping[str, Any]) -> int | str:
    """A probe port: an int, a named container port, or (the kubelet's last resort) a number in a string."""
    if isinstance(port, int) and not isinstance(port, bool):
        return port
    name = str(port)
    for _, entry in _dict_items(container.get("ports")):
        if entry.get("name") == name and isinstance(entry.get("containerPort"), int):
            return int(entry["containerPort"])
    return int(name) if name.isdigit() else name


def _seconds(raw: Mapping[str, Any], key: str, default: float) -> float:
    """API defaulting: an unset or zero period/timeout/threshold takes the default."""
    value = raw.get(key)
    return float(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def plan_probe(kind: str, raw: Mapping[str, Any], container: Mapping[str, Any], node_ip: str) -> Probe:
    """A probe with the kubelet's defaults; host defaults to the pod IP, which is the node IP (hostNetwork)."""
    grace = raw.get("terminationGracePeriodSeconds")
    common: dict[str, Any] = {
        "kind": kind,
        "initial_delay": _seconds(raw, "initialDelaySeconds", 0.0),
        "period": _seconds(raw, "periodSeconds", 10.0),
        "timeout": _seconds(raw, "timeoutSeconds", 1.0),
        "failure_threshold": int(_seconds(raw, "failureThreshold", 3)),
        "success_threshold": int(_seconds(raw, "successThreshold", 1)),
        "termination_grace": float(grace) if isinstance(grace, int) and not isinstance(grace, bool) else None,
    }
    if isinstance(raw.get("httpGet"), dict):
        get = raw["httpGet"]
        path = str(get.get("path") or "/")
        headers = tuple(
            (str(h.get("name", "")), str(h.get("value", ""))) for _, h in _dict_items(get.get("httpHeaders"))
        )
        return Probe(
            action="httpGet",
            scheme=str(get.get("scheme") or "HTTP").upper(),
            host=str(get.get("host") or node_ip),
            port=resolve_port(get.get("port"), container),
            path=path if path.startswith("/") else "/" + path,
            headers=headers,
            **common,
        )
    if isinstance(raw.get("tcpSocket"), dict):
        tcp = raw["tcpSocket"]
        return Probe(
            action="tcpSocket",
            host=str(tcp.get("host") or node_ip),
            port=resolve_port(tcp.get("port"), container),
            **common,
        )
    if isinstance(raw.get("grpc"), dict):
        return Probe(action="grpc", host=node_ip, port=resolve_port(raw["grpc"].get("port"), container), **common)
    command = raw.get("exec", {}).get("command") if isinstance(raw.get("exec"), dict) else None
    return Probe(action="exec", command=tuple(str(c) for c in command or ()), **common)


def _env_value(entry: Mapping[str, Any], meta: Mapping[str, Any], node_ip: str, hostname: str) -> str | None:
    """An env var's value: `value`, or the few fieldRefs a static control-plane pod can use; None if neither."""
    if "valueFrom" not in entry:
        return str(entry.get("value", "") if entry.get("value") is not None else "")
    ref = entry["valueFrom"].get("fieldRef") if isinstance(entry["valueFrom"], dict) else None
    field_path = ref.get("fieldPath") if isinstance(ref, dict) else None
    known = {
        "metadata.name": str(meta.get("name", "")),
        "metadata.namespace": str(meta.get("namespace") or "default"),
        "spec.nodeName": hostname,
        "status.podIP": node_ip,
        "status.podIPs": node_ip,
        "status.hostIP": node_ip,
        "status.hostIPs": node_ip,
    }
    return known.get(str(field_path)) if field_path else None


def plan_container(
    manifest: Mapping[str, Any], *, node_ip: str, bin_root: str, hostname: str | None = None
) -> ContainerPlan:
    """Translate a static pod manifest into what the runner starts; raises PlanError for an invalid pod."""
    errors = validate_pod(manifest)
    if errors:
        raise PlanError("invalid pod: " + "; ".join(errors))
    hostname = hostname or socket.gethostname()
    meta: Mapping[str, Any] = manifest["metadata"]
    spec: Mapping[str, Any] = manifest["spec"]
    containers: list[dict[str, Any]] = spec["containers"]
    container = containers[0]
    warnings = [
        f"unknown field {f} is ignored (the kubelet ignores it too: check its spelling)"
        for f in unknown_fields(manifest)
    ]
    if len(containers) > 1:
        others = ", ".join(str(c.get("name")) for c in containers[1:])
        warnings.append(
            f"the pod has {len(containers)} containers; the lab runner runs only the first ({others} not run)"
        )
    if spec.get("initContainers"):
        warnings.append("initContainers are not run by the lab runner")
    if spec.get("hostNetwork") is not True:
        warnings.append("hostNetwork is not true: the lab runner runs every pod in the node's network anyway")

    volumes: dict[str, Volume] = {}
    for vol in spec.get("volumes") or []:
        if isinstance(vol.get("hostPath"), dict):
            hp = vol["hostPath"]
            volumes[vol["name"]] = Volume(os.path.normpath(hp["path"]), str(hp.get("type") or ""))
        elif "emptyDir" in vol or not (set(vol) - {"name"}):
            volumes[vol["name"]] = Volume("", EMPTY_DIR)  # the API defaults a volume without a source to emptyDir
        else:
            source = ", ".join(sorted(set(vol) - {"name"}))
            raise PlanError(
                f"volume {vol['name']!r}: the lab runner supports only hostPath and emptyDir volumes (got {source})"
            )

    mounts: list[Mount] = []
    for vm in container.get("volumeMounts") or []:
        if vm.get("subPathExpr"):
            raise PlanError(f"volumeMount {vm['name']!r}: subPathExpr is not supported by the lab runner")
        if vm.get("mountPropagation") not in (None, "None"):
            warnings.append(f"volumeMount {vm['name']!r}: mountPropagation {vm['mountPropagation']} is not emulated")
        vol = volumes[vm["name"]]
        sub_path = str(vm.get("subPath") or "")
        src = os.path.join(vol.path, sub_path) if (vol.path and sub_path) else vol.path
        mounts.append(
            Mount(src, os.path.normpath(vm["mountPath"]), vm.get("readOnly") is True, vol.type, vm["name"], sub_path)
        )

    env: dict[str, str] = {"PATH": CONTAINER_PATH, "HOSTNAME": hostname, "HOME": "/"}
    for _, entry in _dict_items(container.get("env")):
        value = _env_value(entry, meta, node_ip, hostname)
        if value is None:
            warnings.append(f"env {entry.get('name')}: valueFrom is not supported by the lab runner (left unset)")
            continue
        env[str(entry.get("name"))] = expand_vars(value, env)

    command = list(container.get("command") or [])
    args = list(container.get("args") or [])
    component = parse_image(container["image"]).component
    if not command:
        command = [f"{IMAGE_BIN_DIR}/{component}"]
        warnings.append(f"no command: the lab uses the image's binary {command[0]} as the entrypoint")
    argv = [expand_vars(part, env) for part in command + args]

    probes = {
        kind: plan_probe(kind, container[field_name], container, node_ip)
        for kind, field_name in PROBE_FIELDS.items()
        if isinstance(container.get(field_name), dict)
    }
    for probe in probes.values():
        if probe.action == "exec":
            warnings.append(f"{probe.kind} probe is exec: the lab cannot exec into a container; it counts as success")
        elif probe.action == "grpc":
            warnings.append(
                f"{probe.kind} probe is gRPC: the lab approximates it by a TCP connect to port {probe.port}"
            )

    grace = spec.get("terminationGracePeriodSeconds")
    grace_seconds = float(grace) if isinstance(grace, int) and not isinstance(grace, bool) else DEFAULT_GRACE_SECONDS
    return ContainerPlan(
        pod=str(meta["name"]),
        namespace=str(meta.get("namespace") or "default"),
        container=str(container["name"]),
        image=str(container["image"]),
        argv=argv,
        env=env,
        workdir=str(container.get("workingDir") or "/"),
        binaries=image_binaries(container["image"], bin_root),
        mounts=mounts,
        volumes=volumes,
        probes=probes,
        grace_seconds=max(grace_seconds, MIN_GRACE_SECONDS),
        node_ip=node_ip,
        warnings=warnings,
    )


# --------------------------------------------------------------------------------------------------------------
# Probe semantics and CrashLoopBackOff, as pure state so they can be tested without processes.
# --------------------------------------------------------------------------------------------------------------


def probe_result(status_code: int) -> bool:
    """The kubelet counts only HTTP 200-399 as a successful probe (so 401 from --anonymous-auth=false fails)."""
    return 200 <= status_code < 400


@dataclass
class _Track:
    probe: Probe
    result: bool
    successes: int = 0
    failures: int = 0
    next_due: float = 0.0


class ProbeState:
    """The kubelet's prober workers for one container instance, driven by explicit `now` values.

    Until the startup probe succeeded only it runs (no startup probe: started at once); then liveness and
    readiness run. failureThreshold consecutive startup or liveness failures ask for a restart; readiness
    only flips `ready`. A new container instance gets a new ProbeState (counters start over, like the kubelet).
    """

    def __init__(self, probes: Mapping[str, Probe], started_at: float) -> None:
        self.tracks = {
            kind: _Track(probe, result=(kind == "liveness"), next_due=started_at + probe.initial_delay)
            for kind, probe in probes.items()
        }
        self.started = "startup" not in probes

    @property
    def ready(self) -> bool:
        """Ready means started and (no readiness probe, or its last settled result was success)."""
        if not self.started:
            return False
        track = self.tracks.get("readiness")
        return True if track is None else track.result

    def due(self, now: float) -> list[str]:
        """The probe kinds to run now."""
        kinds = ("liveness", "readiness") if self.started else ("startup",)
        return [k for k in kinds if k in self.tracks and self.tracks[k].next_due <= now]

    def launched(self, kind: str, now: float) -> None:
        """A probe was started: the next one is due a period later, however long this one takes."""
        track = self.tracks[kind]
        track.next_due = now + track.probe.period

    def record(self, kind: str, ok: bool, message: str) -> str | None:
        """Count one result; returns the restart reason when startup/liveness reached failureThreshold."""
        track = self.tracks.get(kind)
        if track is None or (kind == "startup") == self.started:
            return None  # a result that no longer matters (e.g. startup already passed)
        if ok:
            track.failures = 0
            track.successes += 1
            if track.successes >= track.probe.success_threshold:
                track.result = True
                if kind == "startup":
                    self.started = True
            return None
        track.successes = 0
        track.failures += 1
        if track.failures < track.probe.failure_threshold:
            return None
        track.result = False
        if kind == "readiness":
            return None
        track.failures = 0
        return f"{kind.capitalize()} probe failed: {message}"


def crashloop_delay(backoff: float, ran_for: float) -> tuple[float, float]:
    """(delay before this restart, backoff for the next one): 0, 10, 20, 40, 40 ... s; reset after 10 min up."""
    if ran_for >= BACKOFF_RESET_AFTER:
        backoff = 0.0
    delay = backoff
    return delay, (BACKOFF_INITIAL if backoff <= 0 else min(backoff * 2, BACKOFF_MAX))


# --------------------------------------------------------------------------------------------------------------
# Running one probe (network I/O; called from a probe thread).
# --------------------------------------------------------------------------------------------------------------


def _join_host_port(host: str, port: int | str) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _describe_error(exc: BaseException, host_port: str) -> str:
    """Connection errors worded like the kubelet's (Go's) messages, so they read the same in the lab."""
    if isinstance(exc, ConnectionRefusedError):
        return f"dial tcp {host_port}: connect: connection refused"
    if isinstance(exc, TimeoutError):
        return "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
    if isinstance(exc, ssl.SSLError):
        return f"remote error: tls: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return f"dial tcp {host_port}: connect: {exc.strerror.lower()}"
    return str(exc) or type(exc).__name__


def _insecure_tls() -> ssl.SSLContext:
    """The kubelet does not verify a probe's TLS certificate; neither does the lab."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _http_get(url: str, headers: Mapping[str, str], timeout: float) -> tuple[int, str]:
    parsed = urllib.parse.urlsplit(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    target = (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    conn: http.client.HTTPConnection
    if parsed.scheme == "https":
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=_insecure_tls())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", target, headers=dict(headers))
        response = conn.getresponse()
        response.read(PROBE_BODY_LIMIT)
        return response.status, response.getheader("Location") or ""
    finally:
        conn.close()


def http_probe(probe: Probe) -> tuple[bool, str]:
    """GET like the kubelet: its headers, same-host redirects followed, 200-399 success, no TLS verification."""
    if isinstance(probe.port, str):
        return False, f"unable to resolve port {probe.port!r}: no container port has that name"
    host_port = _join_host_port(probe.host, probe.port)
    url = f"{probe.scheme.lower()}://{host_port}{probe.path}"
    headers = {"User-Agent": "kube-probe/lab", "Accept": "*/*"}
    for name, value in probe.headers:
        headers = {k: v for k, v in headers.items() if k.lower() != name.lower()}
        headers[name] = value
    for _ in range(MAX_REDIRECTS + 1):
        try:
            status, location = _http_get(url, headers, probe.timeout)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            return False, f'Get "{url}": {_describe_error(exc, host_port)}'
        if status in (301, 302, 303, 307, 308) and location:
            target = urllib.parse.urljoin(url, location)
            if urllib.parse.urlsplit(target).netloc == urllib.parse.urlsplit(url).netloc:
                url = target
                continue
            return True, f"Probe terminated redirects (to {target}); counted as success like the kubelet"
        if probe_result(status):
            return True, ""
        return False, f"HTTP probe failed with statuscode: {status}"
    return False, f'Get "{url}": stopped after {MAX_REDIRECTS} redirects'


def tcp_probe(probe: Probe) -> tuple[bool, str]:
    """Success when a TCP connection opens, like the kubelet's tcpSocket probe."""
    if isinstance(probe.port, str):
        return False, f"unable to resolve port {probe.port!r}: no container port has that name"
    host_port = _join_host_port(probe.host, probe.port)
    try:
        with socket.create_connection((probe.host, probe.port), timeout=probe.timeout):
            return True, ""
    except OSError as exc:
        return False, _describe_error(exc, host_port)


def run_probe(probe: Probe) -> tuple[bool, str]:
    """Run one probe: (success, message)."""
    if probe.action == "httpGet":
        return http_probe(probe)
    if probe.action in ("tcpSocket", "grpc"):
        return tcp_probe(probe)
    return True, "exec probe not run: the lab cannot exec into a container; counted as success"


# --------------------------------------------------------------------------------------------------------------
# Node side of volumes: the kubelet's hostPath type check / create, subPath creation.
# --------------------------------------------------------------------------------------------------------------

_TYPE_CHECKS: dict[str, tuple[Any, str]] = {
    "Directory": (stat.S_ISDIR, "is not a directory"),
    "DirectoryOrCreate": (stat.S_ISDIR, "is not a directory"),
    "File": (stat.S_ISREG, "is not a file"),
    "FileOrCreate": (stat.S_ISREG, "is not a file"),
    "Socket": (stat.S_ISSOCK, "is not a socket file"),
    "CharDevice": (stat.S_ISCHR, "is not a character device"),
    "BlockDevice": (stat.S_ISBLK, "is not a block device"),
}


def check_hostpath(path: str, hostpath_type: str) -> None:
    """Create (…OrCreate, and "" like the runtimes) or check the path; SetupError with the kubelet's words."""
    if not os.path.exists(path):
        try:
            if hostpath_type in ("", "DirectoryOrCreate"):
                os.makedirs(path, mode=0o755, exist_ok=True)
                return
            if hostpath_type == "FileOrCreate":  # the kubelet does not create missing parent directories here
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))
                return
        except OSError as exc:
            raise SetupError(f"hostPath type check failed: cannot create {path}: {exc.strerror}") from exc
    if hostpath_type == "":
        return
    check, problem = _TYPE_CHECKS[hostpath_type]
    try:
        mode = os.stat(path).st_mode
    except OSError:
        mode = 0
    if not check(mode):
        raise SetupError(f"hostPath type check failed: {path} {problem}")


def prepare_mounts(plan: ContainerPlan, emptydir_root: str) -> list[Mount]:
    """Make the node ready for the plan's volumes (checked/created as at mount time); the mounts to bind."""
    bases: dict[str, str] = {}
    for name, vol in plan.volumes.items():
        if vol.type == EMPTY_DIR:
            base = os.path.join(emptydir_root, name)
            os.makedirs(base, exist_ok=True)
            os.chmod(base, 0o777)  # noqa: S103 -- the kubelet's emptyDir mode
        else:
            base = vol.path
            try:
                check_hostpath(vol.path, vol.type)
            except SetupError as exc:
                raise SetupError(f'MountVolume.SetUp failed for volume "{name}" : {exc}') from exc
        bases[name] = base
    resolved: list[Mount] = []
    for mount in plan.mounts:
        base = bases[mount.volume]
        src = os.path.join(base, mount.sub_path) if mount.sub_path else base
        if mount.sub_path:
            if not os.path.lexists(src):
                os.makedirs(src, mode=stat.S_IMODE(os.stat(base).st_mode) or 0o755, exist_ok=True)
            real_base = os.path.realpath(base)
            if os.path.commonpath([real_base, os.path.realpath(src)]) != real_base:
                raise SetupError(f"subPath {mount.sub_path!r} of volume {mount.volume!r} points outside the volume")
        resolved.append(mount._replace(src=src))
    return resolved


def exec_spec(plan: ContainerPlan, root: str, mounts: Sequence[Mount], header: str) -> dict[str, Any]:
    """What the --exec launcher needs (written as JSON next to the pod's root)."""
    return {
        "root": root,
        "header": header,
        "argv": plan.argv,
        "env": plan.env,
        "workdir": plan.workdir,
        "binaries": plan.binaries,
        "mounts": [[m.src, m.dst, m.readonly] for m in mounts],
        "runtime_files": [[path, path] for path in RUNTIME_FILES],
    }


# --------------------------------------------------------------------------------------------------------------
# The --exec launcher: runs in the child, builds the container's view with mount(2), then execve()s.
# --------------------------------------------------------------------------------------------------------------

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000
CLONE_NEWNS = 0x20000
MNT_DETACH = 0x2
_PIVOT_ROOT_SYSCALL = {"x86_64": 155, "aarch64": 41, "riscv64": 41}
_STATVFS_TO_MS = (
    (os.ST_NOSUID, MS_NOSUID),
    (os.ST_NODEV, MS_NODEV),
    (os.ST_NOEXEC, MS_NOEXEC),
    (os.ST_NOATIME, MS_NOATIME),
    (os.ST_NODIRATIME, MS_NODIRATIME),
    (os.ST_RELATIME, MS_RELATIME),
)
_SKELETON_FILES = {
    # The distroless base image's own files (not the node's): users for Go's os/user, resolver order.
    "/etc/passwd": "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"
    "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
    "/etc/group": "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n",
    "/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
}
_SKELETON_DIRS = {
    "/etc": 0o755, "/tmp": 0o1777, "/root": 0o700, "/home/nonroot": 0o700, "/usr/local/bin": 0o755,  # noqa: S108 -- a container's skeleton
    "/proc": 0o555, "/sys": 0o555, "/dev": 0o755, "/run": 0o755, "/var": 0o755,
}  # fmt: skip


class _Libc:
    """mount(2), umount2(2), unshare(2) and pivot_root(2) through ctypes (no mount(8) in the container)."""

    def __init__(self) -> None:
        self.lib = ctypes.CDLL("libc.so.6", use_errno=True)
        self.lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        self.lib.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]
        self.lib.unshare.argtypes = [ctypes.c_int]

    @staticmethod
    def _check(rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
        def enc(value: str | None) -> bytes | None:
            return None if value is None else os.fsencode(value)

        rc = self.lib.mount(enc(source), enc(target), enc(fstype), flags, enc(data))
        self._check(rc, f"mount {source or fstype} on {target}")

    def umount2(self, target: str, flags: int) -> None:
        self._check(self.lib.umount2(os.fsencode(target), flags), f"umount {target}")

    def unshare(self, flags: int) -> None:
        self._check(self.lib.unshare(flags), "unshare")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        number = _PIVOT_ROOT_SYSCALL.get(platform.machine())
        if number is None:
            raise OSError(0, f"pivot_root: unknown syscall number on {platform.machine()}")
        self._check(self.lib.syscall(number, os.fsencode(new_root), os.fsencode(put_old)), "pivot_root")


def _inside(root: str, path: str) -> str:
    """The node path of container path `path` under `root`, refusing symlinks that lead out of the root."""
    target = os.path.join(root, os.path.normpath(path).lstrip("/"))
    real_root = os.path.realpath(root)
    parent = os.path.realpath(os.path.dirname(target))
    if os.path.commonpath([real_root, parent]) != real_root:
        raise OSError(0, f"{path} leads outside the container root through a symlink")
    return target


def _mountpoint(root: str, dst: str, is_dir: bool) -> str:
    target = _inside(root, dst)
    if is_dir:
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
    return target


def _remount_readonly(libc: _Libc, target: str) -> None:
    """Bind mounts start writable; make this one read-only, keeping its nosuid/nodev/... flags (else EPERM)."""
    flags = os.statvfs(target).f_flag
    keep = 0
    for st_flag, ms_flag in _STATVFS_TO_MS:
        if flags & st_flag:
            keep |= ms_flag
    libc.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | keep)


def _submounts(prefix: str) -> list[str]:
    found: list[str] = []
    with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as fh:
        for line in fh:
            parts = line.split()
            if len(parts) > 4:
                point = parts[4].encode().decode("unicode_escape")
                if point.startswith(prefix + "/"):
                    found.append(point)
    return found


def _bind(libc: _Libc, src: str, target: str, readonly: bool, recursive: bool) -> None:
    libc.mount(src, target, None, MS_BIND | (MS_REC if recursive else 0))
    if readonly:
        _remount_readonly(libc, target)


def _make_dev(libc: _Libc, root: str) -> None:
    """A runtime's minimal /dev: a few character devices of the node, pts, a tmpfs shm and the usual links."""
    dev = _inside(root, "/dev")
    libc.mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k")
    for name in DEV_NODES:
        if os.path.exists(f"/dev/{name}"):
            _bind(libc, f"/dev/{name}", _mountpoint(root, f"/dev/{name}", is_dir=False), False, False)
    if os.path.isdir("/dev/pts"):
        _bind(libc, "/dev/pts", _mountpoint(root, "/dev/pts", is_dir=True), False, True)
        os.symlink("pts/ptmx", os.path.join(dev, "ptmx"))
    libc.mount("tmpfs", _mountpoint(root, "/dev/shm", is_dir=True), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")  # noqa: S108 -- a container's /dev/shm
    for name, link in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(link, os.path.join(dev, name))


def build_container_root(libc: _Libc, spec: Mapping[str, Any]) -> None:
    """In a new private mount namespace: a tmpfs root with the image's binaries, the runtime minimum, volumes."""
    root: str = spec["root"]
    libc.unshare(CLONE_NEWNS)
    libc.mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.makedirs(root, mode=0o700, exist_ok=True)
    libc.mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m")
    for path, mode in _SKELETON_DIRS.items():
        os.makedirs(_inside(root, path), exist_ok=True)
        os.chmod(_inside(root, path), mode)
    for path, content in _SKELETON_FILES.items():
        with open(_inside(root, path), "w", encoding="utf-8") as fh:
            fh.write(content)
    for dst, src in sorted(spec["binaries"].items()):
        _bind(libc, src, _mountpoint(root, dst, is_dir=False), readonly=True, recursive=False)
    _bind(libc, "/proc", _inside(root, "/proc"), readonly=False, recursive=True)
    sys_dir = _inside(root, "/sys")
    _bind(libc, "/sys", sys_dir, readonly=True, recursive=True)
    for sub in _submounts(os.path.realpath(sys_dir)):
        try:
            _remount_readonly(libc, sub)
        except OSError as exc:  # best effort, as the top of /sys is read-only already
            print(f"kubeharden-lab: warning: {sub} stays writable: {exc}", file=sys.stderr)
    _make_dev(libc, root)
    binds = [(src, dst, ro) for src, dst, ro in spec["mounts"]]
    for src, dst in spec["runtime_files"]:
        if os.path.exists(src):
            binds.append((src, dst, True))
        else:
            _mountpoint(root, dst, is_dir=False)
    # Parents before children (as runtimes sort mounts), so nested volumes land inside their parent volume.
    for src, dst, readonly in sorted(binds, key=lambda b: len(os.path.normpath(b[1]).split("/"))):
        if not os.path.exists(src):
            raise OSError(0, f"volume source {src} does not exist on the node")
        target = _mountpoint(root, dst, is_dir=os.path.isdir(src))
        _bind(libc, src, target, readonly=bool(readonly), recursive=True)
    os.makedirs(_inside(root, spec["workdir"]), exist_ok=True)


def enter_root(libc: _Libc, root: str) -> None:
    """pivot_root into the container root and drop the node's tree (chroot if pivot_root is impossible)."""
    os.chdir(root)
    try:
        libc.pivot_root(".", ".")
    except OSError:  # e.g. the node's own root is not a mount point: chroot confines paths just as well
        os.chroot(".")
    else:
        libc.umount2(".", MNT_DETACH)  # the node's tree, stacked on "." by pivot_root(".", ".")
    os.chdir("/")


def find_executable(name: str, path: str) -> str | None:
    """Resolve argv[0] in the container's PATH, as the runtime does (argv itself is left untouched)."""
    if "/" in name:
        return name
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def exec_container(spec_path: str) -> NoReturn:
    """--exec mode: become the container's process (this PID is the one the runner watches and kills)."""
    try:
        with open(spec_path, encoding="utf-8") as fh:
            spec = json.load(fh)
        argv: list[str] = spec["argv"]
        env: dict[str, str] = spec["env"]
        print(f"{spec.get('header', '')} pid={os.getpid()} argv={json.dumps(argv)}", flush=True)
        libc = _Libc()
        build_container_root(libc, spec)
        enter_root(libc, spec["root"])
        os.chdir(spec["workdir"])
        path = find_executable(argv[0], env.get("PATH", CONTAINER_PATH))
        if path is None:
            print(f'kubeharden-lab: exec: "{argv[0]}": executable file not found in $PATH', file=sys.stderr, flush=True)
            os._exit(128)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ):  # Python ignores these; a container process must not
            signal.signal(sig, signal.SIG_DFL)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(path, argv, env)  # noqa: S606 -- exec of the pod's own argv
    except BaseException as exc:
        print(f"kubeharden-lab: cannot start the container: {exc}", file=sys.stderr, flush=True)
        os._exit(128)


# --------------------------------------------------------------------------------------------------------------
# The runner: a main loop scanning the manifests directory, one worker thread per manifest file.
# --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunnerConfig:
    """Where everything lives; every path can be moved by an environment variable (tests)."""

    manifests: str = DEFAULT_MANIFESTS
    bin_root: str = DEFAULT_BIN_ROOT
    run_dir: str = DEFAULT_RUN_DIR
    log_dir: str = DEFAULT_LOG_DIR
    node_json: str = DEFAULT_NODE_JSON
    python: str = "/usr/bin/python3"
    script: str = ""
    poll_seconds: float = POLL_SECONDS

    @classmethod
    def from_env(cls) -> RunnerConfig:
        env = os.environ
        return cls(
            manifests=env.get("KUBEHARDEN_LAB_MANIFESTS", DEFAULT_MANIFESTS),
            bin_root=env.get("KUBEHARDEN_LAB_BIN", DEFAULT_BIN_ROOT),
            run_dir=env.get("KUBEHARDEN_LAB_RUN", DEFAULT_RUN_DIR),
            log_dir=env.get("KUBEHARDEN_LAB_LOGS", DEFAULT_LOG_DIR),
            node_json=env.get("KUBEHARDEN_LAB_NODE_JSON", DEFAULT_NODE_JSON),
            python=sys.executable or "/usr/bin/python3",
            script=os.path.abspath(__file__),
        )


def read_node_ip(path: str) -> str:
    """The node IP the lab wrote for this host (probes default to it); 127.0.0.1 if there is none."""
    try:
        with open(path, encoding="utf-8") as fh:
            value = json.load(fh).get("node_ip")
    except (OSError, ValueError, AttributeError):
        return FALLBACK_NODE_IP
    return value if isinstance(value, str) and value else FALLBACK_NODE_IP


def list_manifests(directory: str) -> dict[str, bytes]:
    """Every non-hidden regular file (symlinks followed) is a pod, like the kubelet: backups included."""
    found: dict[str, bytes] = {}
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return found
    for name in names:
        if name.startswith("."):
            continue
        path = os.path.join(directory, name)
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                continue
            with open(path, "rb") as fh:
                found[name] = fh.read()
        except OSError:
            continue
    return found


def write_json_atomic(path: str, data: Mapping[str, Any]) -> None:
    """One JSON line, written to a temporary file and renamed, so readers never see half a status."""
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.{threading.get_ident()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(data, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _now_iso() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds")


def _exit_code(returncode: int) -> int:
    """Exit status as a runtime reports it: killed by signal N -> 128 + N (137 for SIGKILL)."""
    return returncode if returncode >= 0 else 128 - returncode


_RUNNER_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\S* kubeharden-lab: ")


def _tail(path: str, offset: int, lines: int = TAIL_LINES) -> str:
    """The last lines a container wrote since `offset` (runner lines and the start header left out)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(offset, size - 64 * 1024))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    kept = [
        line
        for line in text.splitlines()
        if line.strip() and not line.startswith("==== ") and not _RUNNER_LINE.match(line)
    ]
    return "\n".join(kept[-lines:])


class PodWorker(threading.Thread):
    """Keeps one manifest file's pod running: start, probe, restart with backoff, stop on change or removal."""

    def __init__(self, key: str, config: RunnerConfig) -> None:
        super().__init__(name=f"pod:{key}", daemon=True)
        self.key = key
        self.config = config
        self.manifest_path = os.path.join(config.manifests, key)
        self.status_path = os.path.join(config.run_dir, "pods", key + ".json")
        self.log_path = os.path.join(config.log_dir, key + ".log")
        self.root = os.path.join(config.run_dir, "roots", key)
        self.spec_path = os.path.join(config.run_dir, "specs", key + ".json")
        self.emptydir_root = os.path.join(config.run_dir, "emptydir", key)
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._desired: tuple[bytes, str] | None = None
        self._shutdown = False
        self._finished = False
        self._results: queue.Queue[tuple[int, str, bool, str]] = queue.Queue()
        self._last_status: dict[str, Any] = {}
        self.proc: subprocess.Popen[bytes] | None = None
        self._reset(b"", "")

    # -- control from the main loop -----------------------------------------------------------------------------

    def offer(self, content: bytes | None, sha: str) -> bool:
        """Desired manifest content (None: the file is gone). False if this worker already ended."""
        with self._lock:
            if self._finished:
                return False
            self._desired = None if content is None else (content, sha)
        self._wake.set()
        return True

    def shutdown(self) -> None:
        """The runner stops: stop the container, leave a "stopped" status."""
        with self._lock:
            self._shutdown = True
        self._wake.set()

    @property
    def finished(self) -> bool:
        with self._lock:
            return self._finished

    # -- per-manifest-content state -------------------------------------------------------------------------------

    def _reset(self, content: bytes, sha: str) -> None:
        """A new manifest content is a new pod: fresh restarts, backoff and probes (like a new static pod UID)."""
        self.sha = sha
        self.manifest: dict[str, Any] | None = None
        self.invalid: str | None = None
        self.plan: ContainerPlan | None = None
        self.warnings: list[str] = []
        self.restarts = 0
        self.starts = 0
        self.backoff = 0.0
        self.next_start_at = 0.0
        self.next_start_epoch: float | None = None
        self.plan_warned = False
        self.last_exit_code: int | None = None
        self.last_error = ""
        self.liveness_failures_total = 0
        self.probe_failures_total = dict.fromkeys(PROBE_KINDS, 0)
        self.state = "starting"
        self.started_at: float | None = None
        self.started_mono = 0.0
        self.log_offset = 0
        self.generation = 0
        self.probes: ProbeState | None = None
        self.inflight: set[str] = set()
        self.noted: set[tuple[str, str]] = set()
        if not sha:
            return
        try:
            loaded = yaml.safe_load(content.decode("utf-8", errors="replace"))
        except yaml.YAMLError as exc:
            self.invalid = f"cannot parse {self.manifest_path} as YAML: {exc}".replace("\n", " ")
            return
        errors = validate_pod(loaded)
        if errors:
            self.invalid = "invalid pod, not run (the kubelet refuses it too): " + "; ".join(errors)
            return
        self.manifest = loaded
        self.warnings = [
            f"unknown field {f} is ignored (the kubelet ignores it too: check its spelling)"
            for f in unknown_fields(loaded)
        ]

    # -- logging ----------------------------------------------------------------------------------------------------

    def _pod_log(self, message: str, level: int = logging.INFO) -> None:
        """A line in the pod's log (next to the component's output) and in the runner's own log."""
        LOG.log(level, "%s: %s", self.key, message)
        try:
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(f"{_now_iso()} kubeharden-lab: {message}\n")
        except OSError:
            pass

    # -- the loop ---------------------------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            self._loop()
        except Exception:
            LOG.exception("%s: worker failed; stopping its container", self.key)
            self._stop_process(self._grace(), "the runner's worker failed")
            with self._lock:
                self._finished = True

    def _loop(self) -> None:
        while True:
            with self._lock:
                desired, shutdown = self._desired, self._shutdown
            if shutdown:
                self._stop_process(self._grace(), "the runner is stopping")
                self.state = "stopped"
                self._write_status()
                return
            if desired is None:
                if self.proc is not None:
                    self._pod_log(f"manifest {self.manifest_path} removed: stopping the pod")
                self._stop_process(self._grace(), "its manifest was removed")
                self._remove_files()
                with self._lock:
                    if self._desired is None and not self._shutdown:
                        self._finished = True
                        return
                continue
            content, sha = desired
            if sha != self.sha:
                if self.proc is not None:
                    self._pod_log("manifest changed: stopping the old container, starting the new one")
                    self._stop_process(self._grace(), "its manifest changed")
                shutil.rmtree(self.emptydir_root, ignore_errors=True)
                self._reset(content, sha)
                if self.invalid:
                    self._pod_log(self.invalid, logging.ERROR)
                for warning in self.warnings:
                    self._pod_log("warning: " + warning, logging.WARNING)
            self._step(time.monotonic())
            self._write_status()
            self._wake.wait(0.25)
            self._wake.clear()

    def _grace(self) -> float:
        return self.plan.grace_seconds if self.plan else DEFAULT_GRACE_SECONDS

    def _step(self, now: float) -> None:
        if self.invalid is not None:
            self.state, self.last_error = "error", self.invalid
            return
        if self.proc is None:
            if now >= self.next_start_at:
                self._start(now)
            return
        returncode = self.proc.poll()
        if returncode is not None:
            self._after_exit(returncode, now, None)
            return
        self._drain_probe_results(now)
        if self.proc is not None and self.probes is not None:
            for kind in self.probes.due(now):
                if kind not in self.inflight:
                    self.probes.launched(kind, now)
                    self._launch_probe(kind, self.probes.tracks[kind].probe)
            self.state = "running" if self.probes.started else "starting"

    def _start(self, now: float) -> None:
        if not (self.manifest is not None):
            raise AssertionError("invariant: self.manifest is not None")  # an invariant, kept under python -O
        try:
            plan = plan_container(
                self.manifest, node_ip=read_node_ip(self.config.node_json), bin_root=self.config.bin_root
            )
            if not self.plan_warned:
                self.plan_warned = True
                for warning in plan.warnings:
                    if warning not in self.warnings:
                        self._pod_log("warning: " + warning, logging.WARNING)
            problem = missing_image_error(plan.image, self.config.bin_root)
            if problem:
                raise SetupError(problem)
            mounts = prepare_mounts(plan, self.emptydir_root)
        except (PlanError, SetupError, OSError) as exc:
            message = str(exc)
            if message != self.last_error or self.state != "error":
                self._pod_log(f"cannot start: {message} (retrying every {SETUP_RETRY_SECONDS:.0f} s)", logging.ERROR)
            self.state, self.last_error = "error", message
            self._schedule_start(now, SETUP_RETRY_SECONDS)
            return
        self.plan = plan
        header = f"==== {_now_iso()} kubeharden-lab: starting container {plan.container} of pod {plan.pod}"
        os.makedirs(os.path.dirname(self.spec_path), exist_ok=True)
        write_json_atomic(self.spec_path, exec_spec(plan, self.root, mounts, header))
        try:
            self.log_offset = os.path.getsize(self.log_path)
        except OSError:
            self.log_offset = 0
        log_fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            self.proc = subprocess.Popen(
                [self.config.python, self.config.script, "--exec", self.spec_path],
                stdin=subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                cwd="/",
                env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"},
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        if self.starts > 0:
            self.restarts += 1
        self.starts += 1
        self.started_at = time.time()
        self.started_mono = now
        self.generation += 1
        self.inflight.clear()
        self.probes = ProbeState(plan.probes, now)
        self.state = "running" if self.probes.started else "starting"
        LOG.info("%s: started %s (pid %d, restarts %d)", self.key, plan.argv[0], self.proc.pid, self.restarts)

    def _launch_probe(self, kind: str, probe: Probe) -> None:
        generation = self.generation
        self.inflight.add(kind)

        def work() -> None:
            try:
                ok, message = run_probe(probe)
            except Exception as exc:  # a probe bug must not kill the worker
                ok, message = False, f"probe error: {exc}"
            self._results.put((generation, kind, ok, message))
            self._wake.set()

        threading.Thread(target=work, name=f"probe:{self.key}:{kind}", daemon=True).start()

    def _drain_probe_results(self, now: float) -> None:
        while True:
            try:
                generation, kind, ok, message = self._results.get_nowait()
            except queue.Empty:
                return
            if generation != self.generation or self.probes is None or self.proc is None:
                continue
            self.inflight.discard(kind)
            was_ready = self.probes.ready
            if not ok:
                self.probe_failures_total[kind] += 1
                if kind == "liveness":
                    self.liveness_failures_total += 1
                if kind != "readiness":
                    self._pod_log(f"{kind.capitalize()} probe failed: {message}", logging.WARNING)
            elif message and (kind, message) not in self.noted:  # e.g. an exec probe: say it once, not every period
                self.noted.add((kind, message))
                self._pod_log(f"{kind} probe: {message}", logging.WARNING)
            restart_reason = self.probes.record(kind, ok, message)
            if self.probes.ready != was_ready:
                self._pod_log(f"ready={self.probes.ready}" + ("" if ok else f" (Readiness probe failed: {message})"))
            if restart_reason:
                probe = self.probes.tracks[kind].probe
                grace = probe.termination_grace if probe.termination_grace is not None else self._grace()
                self._pod_log(
                    f"{restart_reason}; container {self.plan.container if self.plan else ''} will be restarted"
                )
                returncode = self._stop_process(max(grace, MIN_GRACE_SECONDS), f"its {kind} probe failed")
                self._after_exit(returncode, time.monotonic(), restart_reason)
                return

    def _after_exit(self, returncode: int | None, now: float, reason: str | None) -> None:
        """The container ended (by itself or killed for a probe): record why, schedule the restart."""
        code = _exit_code(returncode) if returncode is not None else None
        self._kill_group(signal.SIGKILL)  # the whole "container" ends with its main process
        self.proc = None
        self.probes = None
        self.generation += 1
        self.inflight.clear()
        self.started_at = None
        self.last_exit_code = code
        ran_for = now - self.started_mono
        if reason:
            self.last_error = reason
        elif code != 0:
            tail = _tail(self.log_path, self.log_offset)
            self.last_error = f"the container exited with code {code}" + (f"; its last output:\n{tail}" if tail else "")
        else:
            self.last_error = "the container exited with code 0 (static pods are always restarted)"
        delay, self.backoff = crashloop_delay(self.backoff, ran_for)
        self._schedule_start(now, delay)
        self.state = "backoff" if delay > 0 else "starting"
        self._pod_log(
            f"container exited with code {code} after {ran_for:.1f} s; "
            + (f"back-off {delay:.0f} s before restarting" if delay > 0 else "restarting now")
        )

    def _schedule_start(self, now: float, delay: float) -> None:
        self.next_start_at = now + delay
        self.next_start_epoch = time.time() + delay

    def _kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    def _stop_process(self, grace: float, why: str) -> int | None:
        """SIGTERM the container's process group, SIGKILL after `grace` seconds; returns the exit status."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            LOG.info("%s: stopping pid %d (%s), grace %.0f s", self.key, proc.pid, why, grace)
            self._kill_group(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self._pod_log(f"pid {proc.pid} still running {grace:.0f} s after SIGTERM: SIGKILL")
                self._kill_group(signal.SIGKILL)
                proc.wait()
        self._kill_group(signal.SIGKILL)
        self.proc = None
        self.probes = None
        self.generation += 1
        self.started_at = None
        self.inflight.clear()
        return proc.returncode

    # -- status ------------------------------------------------------------------------------------------------

    def _status(self) -> dict[str, Any]:
        plan = self.plan
        container = self.manifest["spec"]["containers"][0] if self.manifest else {}
        meta = self.manifest.get("metadata", {}) if self.manifest else {}
        waiting = self.proc is None and self.invalid is None and self.state != "stopped"
        return {
            "manifest": self.manifest_path,
            "manifest_sha256": self.sha,
            "pod": meta.get("name"),
            "namespace": meta.get("namespace"),
            "container": container.get("name"),
            "image": container.get("image"),
            "pid": self.proc.pid if self.proc is not None else None,
            "started_at": self.started_at,
            "restarts": self.restarts,
            "state": self.state,
            "started": bool(self.probes and self.probes.started),
            "ready": bool(self.probes and self.probes.ready),
            "last_exit_code": self.last_exit_code,
            "last_error": self.last_error,
            "liveness_failures_total": self.liveness_failures_total,
            "probe_failures_total": dict(self.probe_failures_total),
            "backoff_seconds": self.backoff,
            "next_start_at": self.next_start_epoch if waiting else None,
            "warnings": sorted(set(self.warnings + (plan.warnings if plan else []))),
            "node_ip": plan.node_ip if plan else None,
            "log": self.log_path,
        }

    def _write_status(self) -> None:
        status = self._status()
        if status == self._last_status:
            return
        self._last_status = dict(status)
        status["updated_at"] = time.time()
        try:
            write_json_atomic(self.status_path, status)
        except OSError as exc:
            LOG.error("%s: cannot write %s: %s", self.key, self.status_path, exc)

    def _remove_files(self) -> None:
        for path in (self.status_path, self.spec_path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        shutil.rmtree(self.emptydir_root, ignore_errors=True)
        try:
            os.rmdir(self.root)
        except OSError:
            pass


class Runner:
    """The main loop: scan the manifests directory about every second, keep one worker per file."""

    def __init__(self, config: RunnerConfig) -> None:
        self.config = config
        self.workers: dict[str, PodWorker] = {}
        self.stop_event = threading.Event()

    def prepare(self) -> None:
        for sub in ("pods", "roots", "specs", "emptydir"):
            os.makedirs(os.path.join(self.config.run_dir, sub), exist_ok=True)
        os.makedirs(self.config.log_dir, exist_ok=True)
        present = set(list_manifests(self.config.manifests))
        pods_dir = os.path.join(self.config.run_dir, "pods")
        for name in os.listdir(pods_dir):  # statuses from an earlier run whose manifest is gone
            if name.endswith(".json") and name[: -len(".json")] not in present:
                os.unlink(os.path.join(pods_dir, name))

    def scan(self) -> None:
        """Start, update or stop workers so they match the directory."""
        files = list_manifests(self.config.manifests)
        for name, content in files.items():
            sha = hashlib.sha256(content).hexdigest()
            worker = self.workers.get(name)
            if worker is None or not worker.offer(content, sha):
                worker = PodWorker(name, self.config)
                worker.offer(content, sha)
                self.workers[name] = worker
                LOG.info("%s: new pod manifest", name)
                worker.start()
        for name, worker in list(self.workers.items()):
            if name not in files and not worker.offer(None, ""):
                del self.workers[name]

    def run(self) -> int:
        """Until SIGTERM/SIGINT: scan; then stop every pod (SIGTERM, SIGKILL after its grace) and return."""
        self.prepare()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: self.stop_event.set())
        LOG.info(
            "lab static-pod runner started: manifests %s, binaries %s, status %s/pods, logs %s",
            self.config.manifests, self.config.bin_root, self.config.run_dir, self.config.log_dir,
        )  # fmt: skip
        while not self.stop_event.is_set():
            try:
                self.scan()
            except Exception:
                LOG.exception("scan failed")
            self.stop_event.wait(self.config.poll_seconds)
        LOG.info("stopping %d pod(s)", len(self.workers))
        for worker in self.workers.values():
            worker.shutdown()
        for worker in self.workers.values():
            worker.join()
        LOG.info("lab static-pod runner stopped")
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    """`static_pod_runner.py` runs the runner; `static_pod_runner.py --exec SPEC.json` is the launcher."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) == 2 and args[0] == "--exec":
        exec_container(args[1])
    if args:
        print("usage: static_pod_runner.py [--exec SPEC.json]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    return Runner(RunnerConfig.from_env()).run()


if __name__ == "__main__":
    sys.exit(main())
