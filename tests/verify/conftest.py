"""Plumbing of the testinfra verification suite: `pytest tests/verify --inventory PATH [--junitxml report.xml]`.

One testcase per host x applicable control, so a JUnit report lists every control on every host. Each host is
reached with testinfra's ssh:// backend (OpenSSH, strict host-key checking: paramiko never checks host keys) and
its state is collected ONCE per session with one remote command, then every control is judged locally by the same
judge `kubeharden verify` uses. Waived controls are skipped with their reason; WARN passes with a warning. The
inventory is read and validated before any host is contacted; pyinfra_cli is never imported here.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import testinfra

from kubeharden.core.catalog import by_id
from kubeharden.core.collection import verify_spec
from kubeharden.core.inventory import InventoryHost
from kubeharden.core.judge import applicable_controls, judge_control
from kubeharden.core.judge.kubelet_live import PROBE, kubelet_outcome
from kubeharden.core.profile import Profile
from kubeharden.core.results import LiveOutcome, Result
from kubeharden.core.state import CollectionError, HostState, host_state, parse_output
from kubeharden.faces.verify_run import KUBELET_LIVE, VerifyInputError, load_targets
from kubeharden.host.probes import run_probes
from kubeharden.host.ssh import ssh_options, write_ssh_config
from kubeharden.host.transport import collector_command

TARGETS = pytest.StashKey[tuple[dict[str, InventoryHost], dict[str, Profile]]]()
SESSION = pytest.StashKey["VerifySession"]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("kubeharden", "kubeharden verification")
    group.addoption("--inventory", default=None, metavar="PATH", help="pyinfra inventory file of the hosts to check")
    group.addoption("--limit", dest="kh_limit", default=None, metavar="GROUP", help="only hosts of this group")
    group.addoption("--no-probes", dest="kh_no_probes", action="store_true", help="skip the live probes")


def pytest_configure(config: pytest.Config) -> None:
    """Read and validate the whole inventory before anything is collected or contacted."""
    inventory = config.getoption("--inventory", default=None)
    if not inventory:
        return
    try:
        config.stash[TARGETS] = load_targets(inventory, config.getoption("kh_limit"))
    except VerifyInputError as exc:
        raise pytest.UsageError(str(exc) + "\nnothing was contacted") from exc


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "kh_case" not in metafunc.fixturenames:
        return
    targets = metafunc.config.stash.get(TARGETS, None)
    if targets is None:
        reason = "no inventory: run `pytest tests/verify --inventory PATH`"
        metafunc.parametrize("kh_case", [pytest.param(None, marks=pytest.mark.skip(reason=reason))], ids=["none"])
        return
    hosts, _ = targets
    cases = [(h.name, c.id) for h in hosts.values() for c in applicable_controls(h.role)]
    metafunc.parametrize("kh_case", cases, ids=[f"{name}:{cid}" for name, cid in cases])


class VerifySession:
    """Per-session cache: each host's state collected once, its live probes run once; remote commands counted."""

    def __init__(self, hosts: dict[str, InventoryHost], profiles: dict[str, Profile], workdir: Path, probes: bool):
        self.hosts, self.profiles, self.probes = hosts, profiles, probes
        self.commands: Counter[str] = Counter()
        self.seconds: dict[str, float] = {}
        self._states: dict[str, HostState | CollectionError] = {}
        self._live: dict[str, dict[str, LiveOutcome]] = {}
        self._locks = {name: threading.Lock() for name in hosts}
        plain = {n: (h.address, h.data) for n, h in hosts.items() if not h.data.get("ssh_config_file")}
        self._config = workdir / "ssh_config"
        self._aliases = write_ssh_config(plain, self._config) if plain else {}

    def _testinfra_host(self, host: InventoryHost) -> Any:
        """testinfra's ssh:// backend; strict host keys enforced on the command line whatever the config says."""
        if host.name in self._aliases:
            return testinfra.get_host(
                f"ssh://{self._aliases[host.name]}",
                ssh_config=str(self._config),
                ssh_extra_args="-o StrictHostKeyChecking=yes -o BatchMode=yes -o UpdateHostKeys=no",
            )
        return testinfra.get_host(
            f"ssh://{host.address}",
            ssh_config=str(host.data["ssh_config_file"]),
            ssh_extra_args=shlex.join(ssh_options(host.data)),
        )

    def state(self, name: str) -> HostState:
        with self._locks[name]:
            if name not in self._states:
                self._states[name] = self._collect(self.hosts[name])
            found = self._states[name]
        if isinstance(found, CollectionError):
            raise found
        return found

    def _collect(self, host: InventoryHost) -> HostState | CollectionError:
        started = time.monotonic()
        try:
            self.commands[host.name] += 1
            spec = verify_spec()
            if self.probes:  # control planes probe every node's kubelet anonymously (KH-KUBELET-live)
                spec["kubelet_probe_targets"] = sorted({h.address for h in self.hosts.values()})
            out = self._testinfra_host(host).run(collector_command(host.data, spec))
            if out.rc != 0:
                return CollectionError(f"host {host.name}: the collection script exited {out.rc}: {out.stderr[-500:]}")
            return host_state(host.name, host.role, host.address, parse_output(host.name, out.stdout))
        except CollectionError as exc:
            return exc
        except RuntimeError as exc:  # testinfra raises it when ssh itself fails (exit 255)
            stderr = getattr(exc.args[0], "stderr", "") if exc.args else ""
            return CollectionError(f"host {host.name} ({host.address}): SSH connection failed: {stderr or exc}")
        finally:
            self.seconds[host.name] = time.monotonic() - started

    def live(self, name: str) -> dict[str, LiveOutcome] | None:
        if not self.probes:
            return None
        state = self.state(name)
        with self._locks[name]:
            if name not in self._live:
                self._live[name], _ = run_probes(state)
            return self._live[name]

    def judge(self, name: str, control_id: str) -> Result:
        control = by_id()[control_id]
        profile = self.profiles[name]
        waiver = profile.waived(control.id, control.area)
        if waiver:  # a waived control needs nothing from the host
            return judge_control(HostState(name, self.hosts[name].role, self.hosts[name].address), control, profile)
        live = self.live(name) if control.live else {}
        if control.id == KUBELET_LIVE and live is not None:
            live = {PROBE: self._kubelet_outcome(name)}
        return judge_control(self.state(name), control, profile, live)

    def _kubelet_outcome(self, name: str) -> LiveOutcome:
        """What the first control plane's anonymous probe got from this host's kubelet."""
        address = self.hosts[name].address
        for source, host in self.hosts.items():
            if host.role != "control_plane":
                continue
            try:
                probes = self.state(source).kubelet_probes
            except CollectionError:
                continue
            if probes:
                return kubelet_outcome(probes.get(address), source, address)
        return kubelet_outcome(None, "-", address)


@pytest.fixture(scope="session")
def kh_session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> VerifySession:
    hosts, profiles = request.config.stash[TARGETS]
    probes = not request.config.getoption("kh_no_probes")
    session = VerifySession(hosts, profiles, tmp_path_factory.mktemp("kubeharden-ssh"), probes)
    request.config.stash[SESSION] = session
    return session


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """The measured cost: remote commands and collection seconds per host."""
    session = config.stash.get(SESSION, None)
    if session is None:
        return
    counts = ", ".join(f"{n}={session.commands[n]} ({session.seconds.get(n, 0):.2f}s)" for n in session.hosts)
    terminalreporter.write_line(f"kubeharden: remote commands per host: {counts}")
