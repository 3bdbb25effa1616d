"""The kubelet's EFFECTIVE configuration: its command-line flags override its config file (KubeletConfiguration),
and absent keys take the config file's defaults. Pure logic: texts in, values out.

The flags come from the running kubelet's command line when there is one; otherwise from what systemd would run:
the unit and its drop-ins (``Environment=``, ``EnvironmentFile=``, the last ``ExecStart=``) with kubeadm's
``kubeadm-flags.env`` and ``/etc/default/kubelet``. kube-bench reads the first config file it finds; this reads the
one the kubelet's ``--config`` names.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubeharden.core.command_line import parse_words

_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


def parse_env_file(text: str) -> dict[str, str]:
    """``NAME=value`` lines of a systemd EnvironmentFile (quotes stripped, comments and blanks ignored)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")) or "=" not in line:
            continue
        name, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        found[name.strip()] = value
    return found


def _environment(value: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for word in shlex.split(value):
        if "=" in word:
            name, _, item = word.partition("=")
            found[name] = item
    return found


def unit_command(units: Sequence[str], env_files: Mapping[str, str]) -> list[str]:
    """The kubelet command line systemd would run from the unit then its drop-ins (in that order): environment
    from ``Environment=`` and ``EnvironmentFile=`` (``env_files``: path -> text; a missing optional file is
    skipped), the last ``ExecStart=`` (an empty one resets), ``$NAME`` expanded and split as words."""
    env: dict[str, str] = {}
    exec_start = ""
    for text in units:
        for raw in text.splitlines():
            line = raw.strip()
            key, sep, value = line.partition("=")
            if not sep:
                continue
            key = key.strip()
            if key == "Environment":
                env.update(_environment(value))
            elif key == "EnvironmentFile":
                path = value.strip().lstrip("-")
                env.update(parse_env_file(env_files.get(path, "")))
            elif key == "ExecStart":
                exec_start = value.strip()
    if not exec_start:
        return []

    def expand(match: re.Match[str]) -> str:
        return env.get(match.group(1) or match.group(2), "")

    return shlex.split(_VAR.sub(expand, exec_start))


def flags_of(argv: Sequence[str]) -> dict[str, str]:
    """The ``--name`` flags of a command line as pflag reads them (a bare ``--flag`` is "true"; the last wins)."""
    tokens = parse_words(list(argv[1:]), "command")
    return {f"--{t.name}": t.effective for t in tokens if t.is_flag and t.prefix == "--"}


def go_value(value: Any) -> str:
    """A YAML value as the kubelet's flag would spell it (booleans lower-case, lists comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(go_value(v) for v in value)
    if isinstance(value, dict):
        return ",".join(f"{k}={go_value(v)}" for k, v in value.items())
    return str(value)


def lookup(config: Mapping[str, Any], key: str) -> Any:
    """A dotted key of the config (``authentication.anonymous.enabled``); None when absent."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


@dataclass(frozen=True)
class Setting:
    """One setting's effective value and where it came from (``flag --x (running kubelet)``, ``config.yaml``,
    ``default``)."""

    value: str | None
    where: str


@dataclass
class EffectiveKubelet:
    """What the kubelet runs with: its flags (and where they were read), its parsed config file."""

    flags: dict[str, str] = field(default_factory=dict)
    flags_from: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    config_path: str = ""
    config_error: str | None = None

    def setting(self, key: str, flag: str | None, default: str | None) -> Setting:
        if flag and flag in self.flags:
            return Setting(self.flags[flag], f"flag {flag} ({self.flags_from})")
        value = lookup(self.config, key)
        if value is not None:
            return Setting(go_value(value), f"{key} in {self.config_path}")
        return Setting(default, "default" if default is not None else "not set")


def parse_config(text: str | None) -> tuple[dict[str, Any], str | None]:
    """The KubeletConfiguration as a mapping, or ({}, the reason it could not be read)."""
    if text is None:
        return {}, "the kubelet config file could not be read"
    try:
        loaded = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return {}, f"the kubelet config file is not valid YAML: {str(exc).splitlines()[0]}"
    if not isinstance(loaded, dict):
        return {}, "the kubelet config file is not a KubeletConfiguration mapping"
    return loaded, None


def effective(
    running_argv: Sequence[str] | None,
    units: Sequence[str],
    env_files: Mapping[str, str],
    config_text: str | None,
    config_path: str,
) -> EffectiveKubelet:
    """The running kubelet's view when one runs, else the one systemd would start."""
    if running_argv:
        flags, source = flags_of(running_argv), "running kubelet"
    else:
        flags, source = flags_of(unit_command(units, env_files)), "kubelet unit and its environment files"
    config, error = parse_config(config_text)
    return EffectiveKubelet(flags, source, config, config_path, error)
