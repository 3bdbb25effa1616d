"""A model of kubeadm's static pod manifests (/etc/kubernetes/manifests/*.yaml): the component's flags and its
hostPath volumes, edited as structure and written back in kubeadm's own YAML form.

Pure logic: text in, text out. kubeadm serialises a Pod through JSON, so its files have sorted keys, sequences
not indented under their key, strings quoted only when they would read as another type, and the command as the
binary followed by flags sorted by name. A kubeadm-written file therefore comes back byte for byte from
``dump_manifest(load_manifest(text))``; a hand-edited one is normalised to that form (comments and blank lines
go, keys are sorted), which ``StaticPod.canonical_source`` lets a caller notice before writing.
"""

from __future__ import annotations

import difflib
import functools
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml

from kubeharden import versions
from kubeharden.versions import FlagKind, Version

__all__ = [
    "HOST_PATH_TYPES",
    "HostPathVolume",
    "ManifestError",
    "StaticPod",
    "VolumeMount",
    "dump_manifest",
    "image_version",
    "load_manifest",
    "unknown_field_problems",
]

HOST_PATH_TYPES = frozenset(
    {"", "DirectoryOrCreate", "Directory", "FileOrCreate", "File", "Socket", "CharDevice", "BlockDevice"}
)
"""hostPath.type values the kubelet accepts ("" means no check)."""

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"


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


# ----------------------------------------------------------------------------------------------------
# YAML in kubeadm's form
# ----------------------------------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings: Kubernetes decodes manifests through JSON, where a
    creationTimestamp is text, and turning it into a datetime would change how it is written back."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _go_key_less(left: str, right: str) -> bool:
    """gopkg.in/yaml.v2's map key order (keyList.Less), which kubeadm's output follows: letters compare by
    code point, a non-letter sorts before a letter, runs of digits compare as numbers."""
    for index in range(min(len(left), len(right))):
        a, b = left[index], right[index]
        if a == b:
            continue
        a_letter, b_letter = a.isalpha(), b.isalpha()
        if a_letter and b_letter:
            return a < b
        if a_letter or b_letter:
            return b_letter
        a_number = b_number = 0
        if a == "0" or b == "0":
            back = index - 1
            while back >= 0 and left[back].isdecimal():
                if left[back] != "0":
                    a_number = b_number = 1
                    break
                back -= 1
        a_end = index
        while a_end < len(left) and left[a_end].isdecimal():
            a_number = a_number * 10 + int(left[a_end])
            a_end += 1
        b_end = index
        while b_end < len(right) and right[b_end].isdecimal():
            b_number = b_number * 10 + int(right[b_end])
            b_end += 1
        if a_number != b_number:
            return a_number < b_number
        if a_end != b_end:
            return a_end < b_end
        return a < b
    return len(left) < len(right)


def _go_key_compare(left: Any, right: Any) -> int:
    a, b = str(left), str(right)
    if _go_key_less(a, b):
        return -1
    if _go_key_less(b, a):
        return 1
    return 0


_GO_KEY = functools.cmp_to_key(_go_key_compare)


class _KubeadmDumper(yaml.SafeDumper):
    """Writes YAML the way sigs.k8s.io/yaml does: no anchors, double quotes for strings that would otherwise
    read as another type (``"True"``, ``"494"``, ``""``), single quotes only where plain text is not allowed.
    """

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        event = self.event
        if style == "'" and isinstance(event, yaml.ScalarEvent) and not event.implicit[0]:
            return '"'
        return style


_UNICODE_BREAKS = ("\x85", "\u2028", "\u2029")


def _represent_str(dumper: _KubeadmDumper, data: str) -> yaml.Node:
    """Multi-line text as a literal block, like go-yaml; YAML 1.1's other line breaks (NEL, LS, PS) only
    survive escaped in double quotes, PyYAML would fold them into spaces otherwise."""
    if any(char in data for char in _UNICODE_BREAKS):
        return dumper.represent_scalar(_STR_TAG, data, style='"')
    return dumper.represent_scalar(_STR_TAG, data, style="|" if "\n" in data else None)


def _represent_dict(dumper: _KubeadmDumper, data: dict[Any, Any]) -> yaml.Node:
    items = sorted(data.items(), key=lambda item: _GO_KEY(item[0]))
    return dumper.represent_mapping(_MAP_TAG, items)


_KubeadmDumper.add_representer(str, _represent_str)
_KubeadmDumper.add_representer(dict, _represent_dict)


def _render_yaml(document: Mapping[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_KubeadmDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )


# ----------------------------------------------------------------------------------------------------
# Command-line model
# ----------------------------------------------------------------------------------------------------

_Segment = Literal["command", "args"]
_Style = Literal["eq", "bare", "space", "positional"]


@dataclass
class _Token:
    """One flag occurrence (or a positional word) as written; rendering it unchanged gives back the same
    words."""

    segment: _Segment
    style: _Style
    name: str  # without dashes; "" for a positional word
    value: str | None  # None for a bare flag
    prefix: str = "--"

    def render(self) -> list[str]:
        if self.style == "positional":
            return [self.value or ""]
        if self.style == "eq":
            return [f"{self.prefix}{self.name}={self.value}"]
        if self.style == "space":
            return [f"{self.prefix}{self.name}", self.value or ""]
        return [f"{self.prefix}{self.name}"]

    @property
    def is_flag(self) -> bool:
        return self.style != "positional"

    @property
    def effective(self) -> str:
        """The value the binary sees; a bare flag is a boolean set to true (pflag's NoOptDefVal)."""
        return "true" if self.value is None else self.value


def _parse_words(words: list[str], segment: _Segment) -> list[_Token]:
    tokens: list[_Token] = []
    index = 0
    terminated = False
    while index < len(words):
        word = words[index]
        index += 1
        if terminated or not word.startswith("-") or word == "-":
            tokens.append(_Token(segment, "positional", "", word, ""))
            continue
        if word == "--":
            terminated = True
            tokens.append(_Token(segment, "positional", "", word, ""))
            continue
        prefix = "--" if word.startswith("--") else "-"
        name, equals, value = word[len(prefix) :].partition("=")
        if not name or name.startswith("-"):
            tokens.append(_Token(segment, "positional", "", word, ""))
        elif equals:
            tokens.append(_Token(segment, "eq", name, value, prefix))
        elif index < len(words) and not words[index].startswith("-"):
            tokens.append(_Token(segment, "space", name, words[index], prefix))
            index += 1
        else:
            tokens.append(_Token(segment, "bare", name, None, prefix))
    return tokens


def _flag_key(name: str) -> str:
    """The flag's name without dashes, checked to be something pflag and etcd would parse as one flag."""
    key = name.lstrip("-") if isinstance(name, str) else ""
    if not key or "=" in key or not all(char.isalnum() or char in "-_." for char in key):
        raise ManifestError([f"{name!r} is not a flag name: use letters, digits, '-', '_' or '.', e.g. --profiling"])
    return key


def _flag_text(value: str | bool | int) -> str:
    """Flag values as kubeadm writes them: booleans as true/false (``--profiling=false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise ManifestError([f"flag value {value!r} is a {type(value).__name__}: give a string, a bool or an int"])


def _merge_map(values: list[str]) -> str:
    merged: dict[str, str | None] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            key, equals, setting = item.partition("=")
            merged[key.strip()] = setting.strip() if equals else None
    return ",".join(key if setting is None else f"{key}={setting}" for key, setting in merged.items())


# ----------------------------------------------------------------------------------------------------
# Validation
# ----------------------------------------------------------------------------------------------------


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


def _normpath(path: str) -> str:
    normal = posixpath.normpath(path)
    return "/" if normal == "//" else normal


def _validate(document: Any) -> list[str]:
    """Everything that stops kubeharden from modelling the file, or the kubelet from running it, as
    sentences."""
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
    problems: list[str] = []
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        problems.append("metadata.name is missing: the kubelet refuses a static pod without a name; add one")
    spec = document.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list) or not containers:
        return [*problems, "not a static pod manifest: spec.containers is missing or empty, expected a list"]
    for index, container in enumerate(containers):
        where = f"spec.containers[{index}]"
        if not isinstance(container, dict):
            problems.append(f"{where} is {_describe_type(container)}, expected a mapping")
            continue
        if not isinstance(container.get("name"), str) or not container["name"]:
            problems.append(f"{where} has no name: add the component's name, e.g. name: kube-apiserver")
        if not isinstance(container.get("image"), str) or not container["image"]:
            problems.append(f"{where} has no image: the kubelet cannot start it; add the component's image")
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
        if not container.get("command") and not container.get("args"):
            problems.append(f"{where} has neither command nor args: kubeharden reads the component's flags from them")
    volume_names: set[str] = set()
    volumes = spec.get("volumes") if isinstance(spec, dict) else None
    if volumes is not None and not isinstance(volumes, list):
        problems.append(f"spec.volumes is {_describe_type(volumes)}, expected a list")
        volumes = []
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
        if name in volume_names:
            problems.append(f"{where}: volume name {name!r} is used twice; volume names must be unique")
        volume_names.add(name)
        if host_path is not None and (not isinstance(host_path, dict) or not isinstance(host_path.get("path"), str)):
            problems.append(f"{where} ({name}): hostPath has no path; add hostPath.path")
    for index, container in enumerate(containers):
        if not isinstance(container, dict):
            continue
        mounts = container.get("volumeMounts")
        if mounts is None:
            continue
        if not isinstance(mounts, list):
            problems.append(f"spec.containers[{index}].volumeMounts is {_describe_type(mounts)}, expected a list")
            continue
        seen_paths: set[str] = set()
        for position, mount in enumerate(mounts):
            where = f"spec.containers[{index}].volumeMounts[{position}]"
            if not isinstance(mount, dict):
                problems.append(f"{where} is {_describe_type(mount)}, expected a mapping")
                continue
            path = mount.get("mountPath")
            name = mount.get("name")
            if not isinstance(path, str) or not path:
                problems.append(f"{where} has no mountPath: add the path inside the container")
            elif _normpath(path) in seen_paths:
                problems.append(f"{where}: mountPath {path} is mounted twice; mount paths must be unique")
            else:
                seen_paths.add(_normpath(path))
            if not isinstance(name, str) or not name:
                problems.append(f"{where} (mountPath {path}) has no name: name the volume it mounts")
            elif name not in volume_names:
                problems.append(
                    f"{where} (mountPath {path}) mounts volume {name!r}, which spec.volumes does not define: "
                    f"add a volume named {name!r} or fix the name"
                )
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


# ----------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------


class StaticPod:
    """One static pod manifest: the component's flags, its hostPath volumes, and the document they live in.

    Every edit is applied to ``document`` at once, so ``dump_manifest`` always writes the current state. Edits
    change only what they must: a changed flag keeps its place, a new flag goes where kubeadm's sort puts it.
    """

    def __init__(self, document: dict[str, Any], *, source: str | None = None) -> None:
        problems = _validate(document)
        if problems:
            raise ManifestError(problems, source)
        self.document = document
        self.source = source
        self.canonical_source: bool | None = None
        """True when the loaded text was already in kubeadm's form (None when built from a document)."""
        metadata = document.get("metadata") or {}
        labels = metadata.get("labels") if isinstance(metadata.get("labels"), dict) else {}
        containers: list[dict[str, Any]] = document["spec"]["containers"]
        label = labels.get("component") if isinstance(labels, dict) else None
        chosen = next((c for c in containers if isinstance(label, str) and c.get("name") == label), containers[0])
        self.container: dict[str, Any] = chosen
        self.component: str = label if isinstance(label, str) and label else str(chosen["name"])
        self.image: str = str(chosen["image"])
        self.version: Version | None = image_version(self.image)
        command = chosen.get("command")
        args = chosen.get("args")
        self._has_command = isinstance(command, list) and bool(command)
        self._has_args = isinstance(args, list)
        self.binary: str | None = command[0] if self._has_command and isinstance(command, list) else None
        if self.binary is not None and self.binary.startswith("-"):
            raise ManifestError(
                [
                    f"container {chosen['name']}: command starts with the flag {self.binary}, not the "
                    "binary; put the binary first, as kubeadm does"
                ],
                source,
            )
        if self.binary is not None and posixpath.basename(self.binary) in _SHELLS:
            raise ManifestError(
                [
                    f"container {chosen['name']} runs through a shell ({self.binary}): kubeharden cannot "
                    "edit flags inside a shell string; list the binary and its flags in command:, as "
                    "kubeadm does"
                ],
                source,
            )
        self._tokens: list[_Token] = []
        if self._has_command and isinstance(command, list):
            self._tokens.extend(_parse_words(command[1:], "command"))
        if self._has_args and isinstance(args, list):
            self._tokens.extend(_parse_words(args, "args"))

    @property
    def name(self) -> str:
        return str(self.document["metadata"]["name"])

    def __repr__(self) -> str:
        shown = versions.format_version(self.version) if self.version else "unknown version"
        return f"<StaticPod {self.component} {shown}>"

    # -- flags ---------------------------------------------------------------------------------------------

    def _kind(self, key: str) -> FlagKind:
        return versions.flag_kind(self.component, self.version, key)

    def argv(self) -> list[str]:
        """The command line as the container runs it: command followed by args."""
        words = [self.binary] if self.binary is not None else []
        for token in self._tokens:
            words.extend(token.render())
        return words

    def flag_items(self) -> list[tuple[str, str | None]]:
        """Every flag occurrence in order as (``--name``, value), value None for a bare ``--flag``."""
        return [(f"--{t.name}", t.value) for t in self._tokens if t.is_flag]

    def positional_args(self) -> list[str]:
        """Words that are not flags (the control-plane binaries take none; lint reports them)."""
        return [t.value or "" for t in self._tokens if not t.is_flag]

    def get_flag_values(self, name: str) -> list[str]:
        """All values given for ``name``, in order (a bare flag counts as "true")."""
        key = _flag_key(name)
        return [t.effective for t in self._tokens if t.is_flag and t.name == key]

    def get_flag(self, name: str) -> str | None:
        """The value the binary ends up with, or None when the flag is absent.

        Repeated flags combine as the binary combines them: the last wins for ordinary flags, comma lists
        (``--enable-admission-plugins``) are concatenated, ``--feature-gates`` style maps are merged. For
        flags that are repeated as separate items (``--service-account-key-file``) this is the last one; use
        ``get_flag_values`` for all.
        """
        values = self.get_flag_values(name)
        if not values:
            return None
        if len(values) == 1:
            return values[0]
        kind = self._kind(_flag_key(name))
        if kind is FlagKind.LIST:
            return ",".join(value for value in values if value)
        if kind is FlagKind.MAP:
            return _merge_map(values)
        return values[-1]

    def has_flag(self, name: str) -> bool:
        return bool(self.get_flag_values(name))

    def flags(self) -> dict[str, str]:
        """``--name`` -> effective value (see ``get_flag``) for every flag, in order of first appearance."""
        names = dict.fromkeys(t.name for t in self._tokens if t.is_flag)
        result: dict[str, str] = {}
        for key in names:
            value = self.get_flag(key)
            if value is not None:
                result[f"--{key}"] = value
        return result

    def duplicate_flags(self) -> dict[str, list[str]]:
        """Flags given more than once -> their values in order (lint judges whether that is a problem)."""
        occurrences: dict[str, list[str]] = {}
        for token in self._tokens:
            if token.is_flag:
                occurrences.setdefault(f"--{token.name}", []).append(token.effective)
        return {name: values for name, values in occurrences.items() if len(values) > 1}

    def _target_segment(self) -> _Segment:
        if not self._has_command:
            return "args"
        command_has_flags = any(t.is_flag and t.segment == "command" for t in self._tokens)
        if self._has_args and not command_has_flags:
            return "args"
        return "command"

    def _insert_position(self, key: str, segment: _Segment) -> int:
        """Where kubeadm's sort by name puts a new flag: before the first later name in the segment."""
        last_in_segment: int | None = None
        for index, token in enumerate(self._tokens):
            if token.segment != segment:
                continue
            if token.style == "positional" and token.value == "--":
                return index
            if token.is_flag and token.name > key:
                return index
            last_in_segment = index
        if last_in_segment is not None:
            return last_in_segment + 1
        if segment == "command":
            return next((i for i, t in enumerate(self._tokens) if t.segment == "args"), len(self._tokens))
        return len(self._tokens)

    def set_flag(self, name: str, value: str | bool | int) -> bool:
        """Make ``name`` have exactly ``value``; returns whether anything changed.

        An existing flag keeps its place (repeats of it are dropped, since the value is now decided); a new
        one is inserted where kubeadm's alphabetical order puts it. Booleans are written ``--flag=true``.
        """
        key = _flag_key(name)
        text = _flag_text(value)
        indices = [i for i, t in enumerate(self._tokens) if t.is_flag and t.name == key]
        if indices:
            first = self._tokens[indices[0]]
            if len(indices) == 1 and (first.value == text or (first.value is None and text == "true")):
                return False
            self._tokens[indices[0]] = _Token(first.segment, "eq", key, text)
            for index in reversed(indices[1:]):
                del self._tokens[index]
        else:
            segment = self._target_segment()
            self._tokens.insert(self._insert_position(key, segment), _Token(segment, "eq", key, text))
        self._sync()
        return True

    def remove_flag(self, name: str) -> bool:
        """Remove every occurrence of ``name``; returns whether there was one."""
        key = _flag_key(name)
        kept = [t for t in self._tokens if not (t.is_flag and t.name == key)]
        if len(kept) == len(self._tokens):
            return False
        self._tokens = kept
        self._sync()
        return True

    def sort_flags(self) -> bool:
        """Reorder flags by name as kubeadm does (stable, so repeated flags keep their order); returns whether
        the order changed. Edits never reorder on their own: this is for normalising a hand-edited command."""
        before = self.argv()
        sorted_tokens: list[_Token] = []
        for segment in ("command", "args"):
            mine = [t for t in self._tokens if t.segment == segment]
            flags = sorted((t for t in mine if t.is_flag), key=lambda t: t.name)
            sorted_tokens.extend(flags + [t for t in mine if not t.is_flag])
        self._tokens = sorted_tokens
        if self.argv() == before:
            return False
        self._sync()
        return True

    def _sync(self) -> None:
        if self._has_command:
            words: list[str] = [self.binary or ""]
            for token in self._tokens:
                if token.segment == "command":
                    words.extend(token.render())
            self.container["command"] = words
        args: list[str] = []
        for token in self._tokens:
            if token.segment == "args":
                args.extend(token.render())
        if self._has_args or args:
            self.container["args"] = args
            self._has_args = True

    # -- volumes -------------------------------------------------------------------------------------------

    def _volumes(self) -> list[dict[str, Any]]:
        volumes = self.document["spec"].get("volumes")
        return volumes if isinstance(volumes, list) else []

    def _mounts(self) -> list[dict[str, Any]]:
        mounts = self.container.get("volumeMounts")
        return mounts if isinstance(mounts, list) else []

    def host_path_volumes(self) -> list[HostPathVolume]:
        """The pod's hostPath volumes, in manifest order."""
        found: list[HostPathVolume] = []
        for volume in self._volumes():
            host_path = volume.get("hostPath")
            if isinstance(host_path, dict):
                found.append(HostPathVolume(volume["name"], str(host_path["path"]), str(host_path.get("type") or "")))
        return found

    def volume_mounts(self) -> list[VolumeMount]:
        """The component container's volume mounts, in manifest order."""
        return [
            VolumeMount(
                str(mount["name"]),
                str(mount["mountPath"]),
                bool(mount.get("readOnly", False)),
                str(mount.get("subPath") or ""),
            )
            for mount in self._mounts()
        ]

    def add_host_path_volume(
        self, name: str, host_path: str, mount_path: str, read_only: bool = True, type_: str = "File"
    ) -> bool:
        """Mount ``host_path`` at ``mount_path`` through a hostPath volume called ``name``; returns whether
        the manifest changed. Adding exactly what is there is a no-op; a volume or mount that exists with
        other settings is an error, never silently replaced."""
        problems: list[str] = []
        if not name or len(name) > 63 or not all(c.islower() or c.isdigit() or c == "-" for c in name):
            problems.append(f"volume name {name!r} is not a DNS label: use at most 63 of a-z, 0-9 and '-'")
        elif name[0] == "-" or name[-1] == "-":
            problems.append(f"volume name {name!r} must start and end with a letter or digit")
        for label, path in (("host path", host_path), ("mount path", mount_path)):
            if not path.startswith("/"):
                problems.append(f"{label} {path!r} for volume {name!r} is not absolute: give the full path")
        if type_ not in HOST_PATH_TYPES:
            problems.append(
                f"hostPath type {type_!r} for volume {name!r} is not one of {', '.join(sorted(HOST_PATH_TYPES))}"
            )
        if problems:
            raise ManifestError(problems, self.source)
        wanted_path, wanted_mount = _normpath(host_path), _normpath(mount_path)
        existing = next((v for v in self._volumes() if v.get("name") == name), None)
        if existing is not None:
            current = existing.get("hostPath")
            if (
                not isinstance(current, dict)
                or _normpath(str(current.get("path"))) != wanted_path
                or str(current.get("type") or "") != type_
            ):
                shown = (
                    f"hostPath {current.get('path')} (type {current.get('type') or 'unset'})"
                    if isinstance(current, dict)
                    else "a volume that is not a hostPath"
                )
                raise ManifestError(
                    [
                        f"volume {name!r} already exists as {shown}, not hostPath {host_path} (type "
                        f"{type_ or 'unset'}): rename one of them or align the profile with the manifest"
                    ],
                    self.source,
                )
        mount_found: dict[str, Any] | None = None
        for mount in self._mounts():
            same_path = _normpath(str(mount.get("mountPath"))) == wanted_mount
            if mount.get("name") == name or same_path:
                if mount.get("name") != name:
                    raise ManifestError(
                        [
                            f"mount path {mount_path} is already used by volume {mount.get('name')!r}, so "
                            f"volume {name!r} cannot be mounted there: choose another mount path or reuse "
                            "that volume"
                        ],
                        self.source,
                    )
                if not same_path:
                    raise ManifestError(
                        [
                            f"volume {name!r} is already mounted at {mount.get('mountPath')}, not "
                            f"{mount_path}: use another volume name or align the profile with the manifest"
                        ],
                        self.source,
                    )
                if bool(mount.get("readOnly", False)) != read_only:
                    raise ManifestError(
                        [
                            f"volume {name!r} is already mounted at {mount_path} with readOnly "
                            f"{bool(mount.get('readOnly', False))}, not {read_only}: remove the volume first "
                            "if the mount should change"
                        ],
                        self.source,
                    )
                mount_found = mount
        changed = False
        if existing is None:
            host: dict[str, Any] = {"path": host_path}
            if type_:
                host["type"] = type_
            spec = self.document["spec"]
            if not isinstance(spec.get("volumes"), list):
                spec["volumes"] = []
            _insert_by_name(spec["volumes"], {"hostPath": host, "name": name})
            changed = True
        if mount_found is None:
            mount_entry: dict[str, Any] = {"mountPath": mount_path, "name": name}
            if read_only:
                mount_entry["readOnly"] = True
            if not isinstance(self.container.get("volumeMounts"), list):
                self.container["volumeMounts"] = []
            _insert_by_name(self.container["volumeMounts"], mount_entry)
            changed = True
        return changed

    def remove_volume(self, name: str) -> bool:
        """Remove volume ``name`` and every container's mount of it; returns whether anything was removed.

        A list left empty is dropped, as kubeadm omits empty lists, so adding then removing a volume gives the
        original manifest back."""
        changed = False
        spec = self.document["spec"]
        volumes = self._volumes()
        kept = [v for v in volumes if v.get("name") != name]
        if len(kept) != len(volumes):
            _set_or_drop(spec, "volumes", kept)
            changed = True
        for field in ("containers", "initContainers"):
            for container in spec.get(field) or []:
                mounts = container.get("volumeMounts") if isinstance(container, dict) else None
                if isinstance(mounts, list):
                    remaining = [m for m in mounts if m.get("name") != name]
                    if len(remaining) != len(mounts):
                        _set_or_drop(container, "volumeMounts", remaining)
                        changed = True
        return changed

    def volume_for_path(self, path: str) -> tuple[HostPathVolume, VolumeMount] | None:
        """The hostPath volume and mount through which ``path`` (inside the container) is visible, or None.

        The deepest mount whose mountPath is ``path`` or one of its parent directories wins, as in the
        container's mount table; if that mount is not a hostPath volume the path does not come from the host.
        """
        if not path.startswith("/"):
            return None
        wanted = _normpath(path)
        best: VolumeMount | None = None
        for mount in self.volume_mounts():
            mounted = _normpath(mount.mount_path)
            inside = wanted == mounted or wanted.startswith(mounted.rstrip("/") + "/")
            if inside and (best is None or len(mounted) > len(_normpath(best.mount_path))):
                best = mount
        if best is None:
            return None
        volume = next((v for v in self.host_path_volumes() if v.name == best.name), None)
        return (volume, best) if volume is not None else None

    def host_path_for(self, path: str) -> str | None:
        """Where on the host a container path lives (through its hostPath mount), or None if it is not
        mounted."""
        found = self.volume_for_path(path)
        if found is None:
            return None
        volume, mount = found
        rest = posixpath.relpath(_normpath(path), _normpath(mount.mount_path))
        parts = [volume.path, mount.sub_path] if mount.sub_path else [volume.path]
        if rest != ".":
            parts.append(rest)
        return _normpath(posixpath.join(*parts))


def _set_or_drop(parent: dict[str, Any], key: str, entries: list[dict[str, Any]]) -> None:
    if entries:
        parent[key] = entries
    else:
        parent.pop(key, None)


def _insert_by_name(entries: list[dict[str, Any]], entry: dict[str, Any]) -> None:
    """kubeadm lists volumes and mounts sorted by name: insert before the first later name."""
    for index, current in enumerate(entries):
        if str(current.get("name", "")) > entry["name"]:
            entries.insert(index, entry)
            return
    entries.append(entry)


def load_manifest(text: str, source: str | None = None) -> StaticPod:
    """Parse a static pod manifest; ``source`` (a path or host:path) is only used in error messages.

    Raises ManifestError with one sentence per problem for anything that is not a v1 Pod kubeharden can model.
    """
    try:
        documents = [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ManifestError([f"not valid YAML{where}: {problem}; fix the file by hand first"], source) from error
    if not documents:
        raise ManifestError(["not a static pod manifest: the file holds no YAML document"], source)
    if len(documents) > 1:
        raise ManifestError(
            [f"holds {len(documents)} YAML documents; a static pod manifest is exactly one Pod: split the file"],
            source,
        )
    pod = StaticPod(documents[0], source=source)
    pod.canonical_source = dump_manifest(pod) == text
    return pod


def dump_manifest(pod: StaticPod) -> str:
    """Write the pod in kubeadm's form (see the module docstring); unchanged content stays as it was."""
    return _render_yaml(pod.document)
