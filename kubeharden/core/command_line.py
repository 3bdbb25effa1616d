"""A container's command line as pflag (and etcd's flag package) reads it: words parsed into flag tokens
(``--name=value``, ``--name value``, bare ``--name``, positional words) that render back to the same words, so an
edit changes only what it must. Pure logic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


class FlagNameError(ValueError):
    """A flag name or value kubeharden refuses to write."""


Segment = Literal["command", "args"]
_Style = Literal["eq", "bare", "space", "positional"]


@dataclass
class Token:
    """One flag occurrence (or a positional word) as written; rendering it unchanged gives back the same
    words."""

    segment: Segment
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


def parse_words(words: list[str], segment: Segment) -> list[Token]:
    tokens: list[Token] = []
    index = 0
    terminated = False
    while index < len(words):
        word = words[index]
        index += 1
        if terminated or not word.startswith("-") or word == "-":
            tokens.append(Token(segment, "positional", "", word, ""))
            continue
        if word == "--":
            terminated = True
            tokens.append(Token(segment, "positional", "", word, ""))
            continue
        prefix = "--" if word.startswith("--") else "-"
        name, equals, value = word[len(prefix) :].partition("=")
        if not name or name.startswith("-"):
            tokens.append(Token(segment, "positional", "", word, ""))
        elif equals:
            tokens.append(Token(segment, "eq", name, value, prefix))
        elif index < len(words) and not words[index].startswith("-"):
            tokens.append(Token(segment, "space", name, words[index], prefix))
            index += 1
        else:
            tokens.append(Token(segment, "bare", name, None, prefix))
    return tokens


def flag_key(name: str) -> str:
    """The flag's name without dashes, checked to be something pflag and etcd would parse as one flag."""
    key = name.lstrip("-") if isinstance(name, str) else ""
    if not key or "=" in key or not all(char.isalnum() or char in "-_." for char in key):
        raise FlagNameError(f"{name!r} is not a flag name: use letters, digits, '-', '_' or '.', e.g. --profiling")
    return key


def flag_text(value: str | bool | int) -> str:
    """Flag values as kubeadm writes them: booleans as true/false (``--profiling=false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return value
    raise FlagNameError(f"flag value {value!r} is a {type(value).__name__}: give a string, a bool or an int")


def merge_map(values: list[str]) -> str:
    merged: dict[str, str | None] = {}
    for value in values:
        for item in value.split(","):
            item = item.strip()
            if not item:
                continue
            key, equals, setting = item.partition("=")
            merged[key.strip()] = setting.strip() if equals else None
    return ",".join(key if setting is None else f"{key}={setting}" for key, setting in merged.items())
