"""kubeadm's YAML form for static pod manifests: how kubeadm writes them (Go's JSON-to-YAML: keys in yaml.v2's
order, sequences not indented under their key, strings quoted only when they would read as another type) and a
loader that keeps timestamps as text. Pure logic."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import yaml

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"


class Loader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings: Kubernetes decodes manifests through JSON, where a
    creationTimestamp is text, and turning it into a datetime would change how it is written back."""


Loader.yaml_implicit_resolvers = {
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


def render_yaml(document: Mapping[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=_KubeadmDumper,
        default_flow_style=False,
        sort_keys=False,
        allow_unicode=True,
        width=1 << 30,
    )
