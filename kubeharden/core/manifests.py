"""A model of kubeadm's static pod manifests (/etc/kubernetes/manifests/*.yaml): the component's flags and its
hostPath volumes, edited as structure and written back in kubeadm's own YAML form.

Pure logic: text in, text out. kubeadm serialises a Pod through JSON, so its files have sorted keys, sequences
not indented under their key, strings quoted only when they would read as another type, and the command as the
binary followed by flags sorted by name. A kubeadm-written file therefore comes back byte for byte from
``dump_manifest(load_manifest(text))``; a hand-edited one is normalised to that form (comments and blank lines
go, keys are sorted), which ``StaticPod.canonical_source`` lets a caller notice before writing.
"""

from __future__ import annotations

import posixpath
from typing import Any

import yaml

from kubeharden.core import versions
from kubeharden.core.command_line import FlagNameError, Segment, Token, merge_map, parse_words
from kubeharden.core.command_line import flag_key as _flag_key_raw
from kubeharden.core.command_line import flag_text as _flag_text_raw
from kubeharden.core.manifest_schema import (
    HOST_PATH_TYPES,
    HostPathVolume,
    ManifestError,
    VolumeMount,
    image_version,
    unknown_field_problems,
    validate,
)
from kubeharden.core.manifest_schema import normpath as _normpath
from kubeharden.core.manifest_yaml import Loader, render_yaml
from kubeharden.core.versions import FlagKind, Version

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

_SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})


# ----------------------------------------------------------------------------------------------------
# The model
# ----------------------------------------------------------------------------------------------------


class StaticPod:
    """One static pod manifest: the component's flags, its hostPath volumes, and the document they live in.

    Every edit is applied to ``document`` at once, so ``dump_manifest`` always writes the current state. Edits
    change only what they must: a changed flag keeps its place, a new flag goes where kubeadm's sort puts it.
    """

    def __init__(self, document: dict[str, Any], *, source: str | None = None) -> None:
        problems = validate(document)
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
        self._tokens: list[Token] = []
        if self._has_command and isinstance(command, list):
            self._tokens.extend(parse_words(command[1:], "command"))
        if self._has_args and isinstance(args, list):
            self._tokens.extend(parse_words(args, "args"))

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
            return merge_map(values)
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

    def _target_segment(self) -> Segment:
        if not self._has_command:
            return "args"
        command_has_flags = any(t.is_flag and t.segment == "command" for t in self._tokens)
        if self._has_args and not command_has_flags:
            return "args"
        return "command"

    def _insert_position(self, key: str, segment: Segment) -> int:
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
            self._tokens[indices[0]] = Token(first.segment, "eq", key, text)
            for index in reversed(indices[1:]):
                del self._tokens[index]
        else:
            segment = self._target_segment()
            self._tokens.insert(self._insert_position(key, segment), Token(segment, "eq", key, text))
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
        sorted_tokens: list[Token] = []
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
        problems = _volume_argument_problems(name, host_path, mount_path, type_)
        if problems:
            raise ManifestError(problems, self.source)
        existing = next((v for v in self._volumes() if v.get("name") == name), None)
        if existing is not None:
            _check_same_volume(existing, name, host_path, type_, self.source)
        mount_found = self._existing_mount(name, mount_path, read_only)
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

    def _existing_mount(self, name: str, mount_path: str, read_only: bool) -> dict[str, Any] | None:
        """The container's mount of ``name`` at ``mount_path``, None when there is none; a clash is an error."""
        wanted_mount = _normpath(mount_path)
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
        return mount_found

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


def _flag_key(name: str) -> str:
    try:
        return _flag_key_raw(name)
    except FlagNameError as exc:
        raise ManifestError([str(exc)]) from exc


def _flag_text(value: str | bool | int) -> str:
    try:
        return _flag_text_raw(value)
    except FlagNameError as exc:
        raise ManifestError([str(exc)]) from exc


def _volume_argument_problems(name: str, host_path: str, mount_path: str, type_: str) -> list[str]:
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
    return problems


def _check_same_volume(existing: dict[str, Any], name: str, host_path: str, type_: str, source: str | None) -> None:
    current = existing.get("hostPath")
    if (
        not isinstance(current, dict)
        or _normpath(str(current.get("path"))) != _normpath(host_path)
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
            source,
        )


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
        documents = [doc for doc in yaml.load_all(text, Loader=Loader) if doc is not None]
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
    return render_yaml(pod.document)
