"""Validation of a static pod manifest's structure before it is modelled: what kubeharden cannot edit safely is
refused with one sentence per problem (not a Pod, a container without a command list, a volume without a name, a
misspelt ``readOnly``...). Pure logic."""

from __future__ import annotations

import difflib
import posixpath
from dataclasses import dataclass
from typing import Any

from kubeharden.core import versions
from kubeharden.core.versions import Version

HOST_PATH_TYPES = frozenset(
    {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
)
"""hostPath.type values the kubelet accepts ("" means no check)."""


class ManifestError(ValueError):
    """A manifest kubeharden cannot model or an edit it refuses; ``problems`` holds one sentence per
    problem."""

    def __init__(self, problems: list[str], source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        if len(self.problems) == 1:
            message = prefix + self.problems[0]
        else:
            message = prefix + f"{len(self.problems)} problems: " + "; ".join(self.problems)
        super().__init__(message)


@dataclass(frozen=True)
class HostPathVolume:
    """A pod volume backed by a path on the host."""

    name: str
    path: str
    type: str  # "" when the manifest sets none


@dataclass(frozen=True)
class VolumeMount:
    """Where the component's container sees a volume."""

    name: str
    mount_path: str
    read_only: bool
    sub_path: str  # "" when the manifest sets none


def image_version(image: str) -> Version | None:
    """The version in an image tag (``registry.k8s.io/kube-apiserver:v1.29.0`` -> (1, 29, 0),
    ``registry.k8s.io/etcd:3.5.10-0`` -> (3, 5, 10)); None when the tag is missing or not a version."""
    reference = image.split("@", 1)[0]
    last = reference.rsplit("/", 1)[-1]
    if ":" not in last:
        return None
    try:
        return versions.parse_version(last.rsplit(":", 1)[1])
    except ValueError:
        return None


def _describe_type(value: Any) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return "text"


def normpath(path: str) -> str:
    normal = posixpath.normpath(path)
    return "/" if normal == "//" else normal


def _top_level(document: Any) -> list[str]:
    if not isinstance(document, dict):
        return [
            f"not a static pod manifest: the top level is {_describe_type(document)}, expected a mapping "
            "with apiVersion: v1 and kind: Pod"
        ]
    kind = document.get("kind")
    if kind != "Pod":
        found = "missing" if kind is None else f"{kind}"
        return [f"not a static pod manifest: kind is {found}, expected Pod"]
    if document.get("apiVersion") != "v1":
        return [f"not a static pod manifest: apiVersion is {document.get('apiVersion')}, expected v1"]
    return []


def _words(where: str, container: dict[str, Any]) -> list[str]:
    problems = []
    for field in ("command", "args"):
        words = container.get(field)
        if words is None:
            continue
        if not isinstance(words, list):
            problems.append(f"{where}.{field} is {_describe_type(words)}, expected a list of strings")
            continue
        for position, word in enumerate(words):
            if not isinstance(word, str):
                problems.append(
                    f"{where}.{field}[{position}] is {word!r} ({_describe_type(word)}), expected a string: quote it"
                )
    return problems


def _container(index: int, container: Any) -> list[str]:
    where = f"spec.containers[{index}]"
    if not isinstance(container, dict):
        return [f"{where} is {_describe_type(container)}, expected a mapping"]
    problems = []
    if not isinstance(container.get("name"), str) or not container["name"]:
        problems.append(f"{where} has no name: add the component's name, e.g. name: kube-apiserver")
    if not isinstance(container.get("image"), str) or not container["image"]:
        problems.append(f"{where} has no image: the kubelet cannot start it; add the component's image")
    problems.extend(_words(where, container))
    if not container.get("command") and not container.get("args"):
        problems.append(f"{where} has neither command nor args: kubeharden reads the component's flags from them")
    return problems


def _volumes(spec: Any, problems: list[str]) -> set[str]:
    """Problems of spec.volumes (appended); the names of the volumes."""
    names: set[str] = set()
    volumes = spec.get("volumes") if isinstance(spec, dict) else None
    if volumes is not None and not isinstance(volumes, list):
        problems.append(f"spec.volumes is {_describe_type(volumes)}, expected a list")
        return names
    for index, volume in enumerate(volumes or []):
        where = f"spec.volumes[{index}]"
        if not isinstance(volume, dict):
            problems.append(f"{where} is {_describe_type(volume)}, expected a mapping")
            continue
        host_path = volume.get("hostPath")
        shown = f" (hostPath {host_path.get('path')})" if isinstance(host_path, dict) else ""
        name = volume.get("name")
        if not isinstance(name, str) or not name:
            problems.append(
                f"{where}{shown} has no name, so the kubelet rejects the pod: add a name and mount it by that name"
            )
            continue
        if name in names:
            problems.append(f"{where}: volume name {name!r} is used twice; volume names must be unique")
        names.add(name)
        if host_path is not None and (not isinstance(host_path, dict) or not isinstance(host_path.get("path"), str)):
            problems.append(f"{where} ({name}): hostPath has no path; add hostPath.path")
    return names


def _mount(where: str, mount: Any, names: set[str], seen: set[str]) -> list[str]:
    if not isinstance(mount, dict):
        return [f"{where} is {_describe_type(mount)}, expected a mapping"]
    problems = []
    path, name = mount.get("mountPath"), mount.get("name")
    if not isinstance(path, str) or not path:
        problems.append(f"{where} has no mountPath: add the path inside the container")
    elif normpath(path) in seen:
        problems.append(f"{where}: mountPath {path} is mounted twice; mount paths must be unique")
    else:
        seen.add(normpath(path))
    if not isinstance(name, str) or not name:
        problems.append(f"{where} (mountPath {path}) has no name: name the volume it mounts")
    elif name not in names:
        problems.append(
            f"{where} (mountPath {path}) mounts volume {name!r}, which spec.volumes does not define: "
            f"add a volume named {name!r} or fix the name"
        )
    return problems


def _mounts(containers: list[Any], names: set[str]) -> list[str]:
    problems: list[str] = []
    for index, container in enumerate(containers):
        mounts = container.get("volumeMounts") if isinstance(container, dict) else None
        if mounts is None:
            continue
        if not isinstance(mounts, list):
            problems.append(f"spec.containers[{index}].volumeMounts is {_describe_type(mounts)}, expected a list")
            continue
        seen: set[str] = set()
        for position, mount in enumerate(mounts):
            problems.extend(_mount(f"spec.containers[{index}].volumeMounts[{position}]", mount, names, seen))
    return problems


def validate(document: Any) -> list[str]:
    """Everything that stops kubeharden from modelling the file, or the kubelet from running it, as
    sentences."""
    top = _top_level(document)
    if top:
        return top
    problems: list[str] = []
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        problems.append("metadata.name is missing: the kubelet refuses a static pod without a name; add one")
    spec = document.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers:
        return [*problems, "not a static pod manifest: spec.containers is missing or empty, expected a list"]
    for index, container in enumerate(containers):
        problems.extend(_container(index, container))
    names = _volumes(spec, problems)
    problems.extend(_mounts(containers, names))
    if problems:
        problems.extend(unknown_field_problems(document))
    return problems


_MOUNT_FIELDS = frozenset(
    {"name", "mountPath", "readOnly", "subPath", "subPathExpr", "mountPropagation", "recursiveReadOnly"}
)
_HOST_PATH_FIELDS = frozenset({"path", "type"})


def _unknown_field(field: str, known: frozenset[str], where: str) -> str:
    close = difflib.get_close_matches(field, sorted(known), n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    effect = ", so the mount is writable" if close and close[0] == "readOnly" else ""
    return f"{where} has the unknown field {field}{hint}: the kubelet ignores it{effect}; fix or remove it"


def unknown_field_problems(document: Any) -> list[str]:
    """Misspelt keys in volume mounts and hostPath volumes (the kubelet drops unknown fields without a word,
    so a ``readOlny: true`` leaves a mount writable)."""
    problems: list[str] = []
    spec = document.get("spec") if isinstance(document, dict) else None
    if not isinstance(spec, dict):
        return problems
    for index, volume in enumerate(spec.get("volumes") or []):
        host_path = volume.get("hostPath") if isinstance(volume, dict) else None
        if isinstance(host_path, dict):
            where = f"spec.volumes[{index}] ({volume.get('name') or 'unnamed'}) hostPath"
            problems.extend(
                _unknown_field(str(f), _HOST_PATH_FIELDS, where) for f in host_path if f not in _HOST_PATH_FIELDS
            )
    for index, container in enumerate(spec.get("containers") or []):
        mounts = container.get("volumeMounts") if isinstance(container, dict) else None
        for position, mount in enumerate(mounts if isinstance(mounts, list) else []):
            if not isinstance(mount, dict):
                continue
            where = f"spec.containers[{index}].volumeMounts[{position}] (mountPath {mount.get('mountPath')})"
            problems.extend(_unknown_field(str(f), _MOUNT_FIELDS, where) for f in mount if f not in _MOUNT_FIELDS)
    return problems
