"""The bad-input corpus: malformed inventories, profiles, CLI values and files for every entry point.

Each case must end with exit 2, a message naming the host/key/file, no Python traceback, and no connection to the
would-be SSH server (a counting listener on loopback, one per case). Entry points: `kubeharden harden`, `verify`,
`rotate-key`, `render`, and pyinfra's own CLI with kubeharden's pre-connect guard (deploys/config.py). The cases of
tests/unit/test_bad_input.py (harden) count towards the corpus too; docs/benchmarks.md gives the total.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.unit.test_bad_input import GOOD_HOST, CountingListener

ROOT = Path(__file__).parents[2]
KH = [sys.executable, "-m", "kubeharden"]
PYINFRA = [str(Path(sys.executable).parent / "pyinfra"), "--config", str(ROOT / "deploys" / "config.py")]


@dataclass(frozen=True)
class Case:
    id: str
    command: str  # harden | verify | rotate-key | pyinfra | render | cli
    body: str = ""  # inventory body (H is a good host reaching the listener), or a file's text for render
    words: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    data: bytes | None = None  # render: raw bytes instead of body


def _inv(
    case_id: str, line: str, *words: str, commands: tuple[str, ...] = ("verify", "rotate-key", "pyinfra")
) -> list[Case]:
    return [Case(f"{c}-{case_id}", c, line, words) for c in commands]


def _cp(extra: str) -> str:
    return f'control_plane = [("cp1", {{**H, {extra}}})]'


INVENTORY_CASES: list[Case] = [
    *_inv("unknown-key", _cp('"kubeharden_tls_minimum": "1.2"'), "kubeharden_tls_minimum"),
    *_inv("tls-version", _cp('"kubeharden_tls_min_version": "1.1"'), "tls_min_version"),
    *_inv("tofu", _cp('"ssh_strict_host_key_checking": "accept-new"'), "ssh_strict_host_key_checking", "accept-new"),
    *_inv("strict-no", _cp('"ssh_strict_host_key_checking": "no"'), "ssh_strict_host_key_checking", "'no'"),
    *_inv("strict-bool", _cp('"ssh_strict_host_key_checking": True'), "ssh_strict_host_key_checking", "True"),
    *_inv("port-string", _cp('"ssh_port": "22"'), "ssh_port", "'22'"),
    *_inv("port-range", _cp('"ssh_port": 70000'), "ssh_port", "70000"),
    *_inv("paramiko-kwargs", _cp('"ssh_paramiko_connect_kwargs": {"sock": 1}'), "ssh_paramiko_connect_kwargs", "sock"),
    *_inv("paramiko-timeout", _cp('"ssh_paramiko_connect_kwargs": {"timeout": "x"}'), "timeout"),
    *_inv("ssh-typo", _cp('"ssh_hostnmae": "10.0.0.1"'), "ssh_hostnmae"),
    *_inv("node-ip", _cp('"node_ip": "cp1.example"'), "node_ip", "cp1.example"),
    *_inv("ssh-user-empty", _cp('"ssh_user": ""'), "ssh_user"),
    *_inv("agent-bool", _cp('"ssh_allow_agent": "yes"'), "ssh_allow_agent"),
    *_inv("admin-any4", _cp('"kubeharden_firewall_admin_cidrs": ["0.0.0.0/0"]'), "0.0.0.0/0", "every address"),
    *_inv("admin-any6", _cp('"kubeharden_firewall_admin_cidrs": ["::/0"]'), "::/0", "every address"),
    *_inv("lb-any", _cp('"kubeharden_firewall_load_balancers": ["0.0.0.0/0"]'), "load_balancers", "0.0.0.0/0"),
    *_inv("no-control-plane", 'workers = [("w1", H)]', "control_plane"),
    *_inv("two-roles", 'control_plane = [("cp1", H)]\nworkers = [("cp1", H)]', "cp1"),
    *_inv("listed-twice", 'control_plane = [("cp1", H), ("cp1", H)]', "cp1", "twice"),
    *_inv("waiver-no-reason", _cp('"kubeharden_waivers": {"1.2.15": ""}'), "1.2.15", "reason"),
    *_inv("extra-arg-weakens", _cp('"kubeharden_apiserver_extra_args": {"profiling": "true"}'), "profiling"),
    *_inv(
        "extra-arg-unknown",
        _cp('"kubeharden_apiserver_extra_args": {"--no-such-flag": "1"}'),
        "--no-such-flag",
        "unknown flag",
    ),
    *_inv("syntax-error", "control_plane = [(", "cannot be read"),
    *_inv("bad-entry", "control_plane = [42]", "42"),
]

HARDEN_EXTRA: list[Case] = [
    Case(
        "harden-strict-bool", "harden", _cp('"ssh_strict_host_key_checking": True'), ("ssh_strict_host_key_checking",)
    ),
    Case("harden-port-string", "harden", _cp('"ssh_port": "22"'), ("ssh_port",)),
    Case("harden-paramiko", "harden", _cp('"ssh_paramiko_connect_kwargs": {"sock": 1}'), ("sock",)),
    Case("harden-node-ip", "harden", _cp('"node_ip": "10.0.0.999"'), ("node_ip", "10.0.0.999")),
    Case("harden-admin-any", "harden", _cp('"kubeharden_firewall_admin_cidrs": ["0.0.0.0/0"]'), ("0.0.0.0/0",)),
    Case("harden-listed-twice", "harden", 'control_plane = [("cp1", H)]\nx = [("cp1", H)]', ("cp1", "two groups")),
    Case("harden-only-empty", "harden", 'control_plane = [("cp1", H)]', ("--only",), ("--only", "")),
    Case("harden-only-comma", "harden", 'control_plane = [("cp1", H)]', ("--only",), ("--only", " , ")),
    Case("harden-only-unknown", "harden", 'control_plane = [("cp1", H)]', ("kublet",), ("--only", "kublet")),
    Case(
        "harden-summary-dir",
        "harden",
        'control_plane = [("cp1", H)]',
        ("/nonexistent-dir", "does not exist"),
        ("--summary-json", "/nonexistent-dir/s.json"),
    ),
    Case(
        "rotate-summary-dir",
        "rotate-key",
        'control_plane = [("cp1", H)]',
        ("/nonexistent-dir", "does not exist"),
        ("--summary-json", "/nonexistent-dir/s.json"),
    ),
    Case(
        "verify-json-dir",
        "verify",
        'control_plane = [("cp1", H)]',
        ("/nonexistent-dir",),
        ("--json", "/nonexistent-dir/r.json"),
    ),
    Case(
        "verify-limit-unknown", "verify", 'control_plane = [("cp1", H)]', ("nosuchgroup",), ("--limit", "nosuchgroup")
    ),
    Case("harden-no-inventory", "cli", "", ("does not exist",), ("harden", "/nonexistent/inventory.py")),
    Case("verify-no-inventory", "cli", "", ("does not exist",), ("verify", "/nonexistent/inventory.py")),
    Case("rotate-no-inventory", "cli", "", ("does not exist",), ("rotate-key", "/nonexistent/inventory.py")),
]

RENDER_CASES: list[Case] = [
    Case("render-binary", "render", words=("UTF-8",), data=b"\x7fELF\x02\x01\x01\x00\x00\x00\xff\xfe"),
    Case("render-latin1", "render", words=("UTF-8",), data="kind: Pod # caf\xe9\n".encode("latin-1")),
    Case("render-empty", "render", "", ("manifest",)),
    Case("render-not-yaml", "render", "kind: Pod\n  spec: [\n", ("YAML",)),
    Case("render-list", "render", "- a\n- b\n", ("manifest",)),
    Case("render-not-pod", "render", "apiVersion: v1\nkind: Service\nmetadata: {name: x}\n", ("Pod",)),
    Case("render-missing", "cli", "", ("cannot read",), ("render", "/nonexistent/kube-apiserver.yaml")),
    Case("render-directory", "cli", "", ("render",), ("render", "/tmp")),
]

ALL_CASES = INVENTORY_CASES + HARDEN_EXTRA + RENDER_CASES


def _argv(case: Case, path: Path) -> list[str]:
    if case.command == "pyinfra":
        return [*PYINFRA, str(path), str(ROOT / "deploys" / "harden.py"), "-y"]
    if case.command == "cli":
        return [*KH, *case.args]
    return [*KH, case.command, str(path), *case.args]


def _run(case: Case, work: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    listener = CountingListener()
    try:
        work.mkdir()
        if case.command == "render":
            path = work / "kube-apiserver.yaml"
            if case.data is not None:
                path.write_bytes(case.data)
            else:
                path.write_text(case.body)
        else:
            path = work / "inventory.py"
            good = GOOD_HOST.replace("PORT", str(listener.port))
            path.write_text(f"H = {good}\n" + textwrap.dedent(case.body) + "\n")
        proc = subprocess.run(_argv(case, path), capture_output=True, text=True, timeout=120, check=False, cwd=work)
        return proc, listener.connections
    finally:
        listener.close()


@pytest.fixture(scope="module")
def outcomes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.CompletedProcess[str], int]]]:
    base = tmp_path_factory.mktemp("corpus")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {c.id: pool.submit(_run, c, base / c.id) for c in ALL_CASES}
        yield {name: f.result() for name, f in futures.items()}


def test_the_corpus_is_large_enough() -> None:
    from tests.unit.test_bad_input import CASES

    assert len(ALL_CASES) + len(CASES) >= 100
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES)


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_bad_input_exits_2_with_a_message_and_no_connection(
    case: Case, outcomes: dict[str, tuple[subprocess.CompletedProcess[str], int]]
) -> None:
    proc, connections = outcomes[case.id]
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == 2, (proc.returncode, output)
    for word in case.words:
        assert word in output, (word, output)
    assert connections == 0
