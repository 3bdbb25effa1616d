"""A control's expected value and remediation in words, generated from its tests and the profile.

Where the profile asks for more than the benchmark, both are shown (``profile: >= 90; CIS: >= 30``), so a report
row says what was checked and why. Pure logic over the catalog.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubeharden.core import flag_ops
from kubeharden.core.catalog.model import Control, FileTest, FlagTest, KubeletTest, cis_value, resolve


def _flag_expected(test: FlagTest, profile: Mapping[str, Any]) -> str:
    wanted = resolve(test.value, profile)
    if wanted is None and test.value is not None:
        return "as kubeadm set it (the profile does not set it)"
    shown = flag_ops.describe(test.op, wanted, test.unset)
    cis = cis_value(test.value)
    if cis is not None and cis != wanted:
        return f"profile: {shown}; CIS: {flag_ops.describe(test.op, cis, test.unset)}"
    return shown


def _file_expected(test: FileTest) -> str:
    return f"mode {test.mode:o} or stricter, {test.owner}"


def _kubelet_expected(test: KubeletTest, profile: Mapping[str, Any]) -> str:
    wanted = resolve(test.value, profile)
    shown = flag_ops.describe(test.op, wanted, test.default)
    cis = cis_value(test.value)
    if cis is not None and cis != wanted:
        shown = f"profile: {shown}; CIS: {flag_ops.describe(test.op, cis, test.default)}"
    name = test.key or test.flag
    also = f" (flag {test.flag})" if test.key and test.flag else ""
    unless = f", or {test.unless[0]}: {test.unless[1]}" if test.unless else ""
    return f"{name}{also} {shown}{unless}"


def expected_text(control: Control, profile: Mapping[str, Any]) -> str:
    """What the judge expects on a host with this profile."""
    if control.expected and not any(
        isinstance(t, FlagTest) and resolve(t.value, profile) != cis_value(t.value) for t in control.tests
    ):
        return control.expected
    parts: list[str] = []
    flags = control.flag_tests
    for test in control.tests:
        if isinstance(test, FlagTest):
            text = _flag_expected(test, profile)
            parts.append(f"{test.flag} {text}" if len(flags) > 1 else text)
        elif isinstance(test, FileTest):
            parts.append(_file_expected(test))
        elif isinstance(test, KubeletTest):
            parts.append(_kubelet_expected(test, profile))
    return "; ".join(dict.fromkeys(parts)) or control.expected


def remediation_text(control: Control, profile: Mapping[str, Any]) -> str:
    """How to fix a failing control by hand."""
    tunable = any(isinstance(t, FlagTest) and resolve(t.value, profile) != cis_value(t.value) for t in control.tests)
    if control.remediation and not tunable:
        return control.remediation
    parts: list[str] = []
    for test in control.flag_tests:
        wanted = resolve(test.value, profile)
        if wanted is None and test.value is not None:
            continue
        if test.op.value == "set" and test.default is not None:
            default = resolve(test.default, profile)
            parts.append(f"set {test.flag}" + (f"={default}" if default and "{" not in str(default) else ""))
            continue
        parts.append(flag_ops.how_to_fix(test.flag, test.op, wanted, control.component or "", test.write))
    for file_test in control.file_tests:
        parts.append(f"chmod {file_test.mode:o} and chown {file_test.owner} {file_test.target}")
    return "; ".join(dict.fromkeys(parts)) or control.remediation
