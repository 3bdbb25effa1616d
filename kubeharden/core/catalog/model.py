"""The shape of a control: typed test forms that say what is checked AND, where harden can apply it, what to set.

kube-bench's checks-as-data (id, audit, expected value, remediation, scored), plus what kube-bench lacks: the fix
as data beside the check, so one entry both plans and judges. A flag test's operation (``Op``) has one meaning,
implemented once in kubeharden.core.flag_ops for the judge and the planner alike; a value may come from the profile
(``Param``), with the benchmark's own value kept beside it as the floor the profile may tighten but never loosen.
Pure data, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
ETCD = "etcd"
COMPONENTS: tuple[str, ...] = (ETCD, APISERVER, CONTROLLER_MANAGER, SCHEDULER)
"""The control-plane components kubeharden plans and judges, in the order harden applies them."""
CONTROL_PLANE = "control_plane"
WORKERS = "workers"
ROLES: tuple[str, ...] = (CONTROL_PLANE, WORKERS)


class Op(StrEnum):
    """What a flag test asks of the flag's effective value (absent: the binary's ``unset`` default)."""

    EQ = "eq"  # equal (Go booleans by value)
    NOTEQ = "noteq"
    SET = "set"  # present with a non-empty value
    UNSET = "unset"  # absent (or empty)
    HAS = "has"  # the comma list has the item (a list value: every item)
    NOTHAVE = "nothave"  # the comma list lacks the item
    GTE = "gte"  # a whole number at least the value
    SUBSET = "subset"  # a non-empty comma list whose every item is allowed
    IN = "in"  # one of the values
    TLS_MIN = "tls_min"  # a TLS version at least the value (either spelling)
    GATE_ON = "gate_on"  # the feature-gate map does not set the gate to false


@dataclass(frozen=True)
class Param:
    """A value taken from the profile key ``key``. ``cis`` is the benchmark's value: the floor (GTE, TLS_MIN) or
    the allowed set (SUBSET) the profile may narrow but never widen; reports show both when they differ."""

    key: str
    cis: str | int | tuple[str, ...] | None = None


Wanted = str | tuple[str, ...] | Param | None

Write = Literal["needed", "always", "remove"]
"""How the generic fix writes a flag test: ``needed`` changes the flag only when the test fails; ``always`` also
writes a value that absence already satisfies (benchmark tools that read the flag literally); ``remove`` satisfies a
failing test by removing the flag (its absence is the safe default, e.g. ``--auto-tls``)."""


@dataclass(frozen=True)
class FlagTest:
    """A test of one flag of the control's component, and how harden makes it pass (unless ``fix`` is False)."""

    flag: str
    op: Op
    value: Wanted = None
    unset: str | None = None
    """The value the binary uses when the flag is absent (None: absent means "no value")."""
    default: str | Param | None = None
    """SET: what to write when the flag is absent. ``{pki}`` and ``{etcd_pki}`` are the manifest's PKI
    directories (read from its other flags, so minikube's /var/lib/minikube/certs works too)."""
    volume: str | None = None
    """SET with a path default: kubeadm's volume that mounts the default's directory."""
    must_exist: bool = False
    """The path the flag names must exist on the node (a missing file stops the run before any change)."""
    insert: str = "end"
    """HAS: where a missing item goes: ``end``, ``first`` or ``after:ITEM``."""
    conflicts: str | None = None
    """HAS: a list flag the item must leave (``--disable-admission-plugins``: enabled and disabled at once is an
    error at start)."""
    write: Write = "needed"
    unless_flag: str | None = None
    """Not applicable while this flag is set (``--authorization-config`` replaces ``--authorization-mode``)."""
    note_if_flag: tuple[str, str] | None = None
    """(flag, sentence): said with the plan when that flag is present."""
    fix: bool = True
    """False: judged only; harden never writes this flag for the control."""


@dataclass(frozen=True)
class FileTest:
    """Mode (a bitmask maximum: "600 or stricter") and owner of a file: a fixed path, the path a flag names, or
    every file a glob matches. Harden tightens the mode (never loosens it) and sets the owner."""

    mode: int
    owner: str = "root:root"
    path: str | None = None
    flag: tuple[str, str] | None = None
    glob: str | None = None
    fix: bool = True

    @property
    def target(self) -> str:
        if self.path:
            return self.path
        if self.flag:
            return f"the path {self.flag[0]} {self.flag[1]} names"
        return str(self.glob)


@dataclass(frozen=True)
class UrlsTest:
    """Every URL of these flags is https (etcd's built-in defaults are plain http)."""

    flags: tuple[str, ...]


@dataclass(frozen=True)
class ListenTest:
    """Nothing listens on ``port`` (or the port ``flag`` names) on the host."""

    port: int
    flag: str | None = None


@dataclass(frozen=True)
class ConfigTest:
    """A configuration file named by a flag, judged by its content: ``anonymous`` (AuthenticationConfiguration)
    or ``pod_security`` (the PodSecurity entry of an AdmissionConfiguration)."""

    kind: Literal["anonymous", "pod_security"]


@dataclass(frozen=True)
class EncryptionTest:
    """Secrets encryption at rest: ``provider`` (the file's first provider), ``identical`` (same file on every
    control plane), ``etcd`` (raw values in etcd) or ``volume`` (etcd's data directory on dm-crypt)."""

    which: Literal["provider", "identical", "etcd", "volume"]


@dataclass(frozen=True)
class FirewallTest:
    """kubeharden's nftables table: ``loaded`` (input policy drop) or ``persistent`` (survives a reboot)."""

    which: Literal["loaded", "persistent"]


@dataclass(frozen=True)
class KubeletTest:
    """A setting of the kubelet's EFFECTIVE configuration (kubeharden.core.kubelet_config): the config file's
    ``key`` (dotted), the ``flag`` that overrides it, what the operation asks of the value, and the value the kubelet
    uses when neither sets it. ``set_to`` is what harden writes into the config file when the test fails (None:
    judged only). ``unless`` (key, value) satisfies the test another way (serverTLSBootstrap for 4.2.9);
    ``zero_is_default``: a zero duration in the config file means "the default" (the kubelet's own defaulting)."""

    key: str | None
    op: Op
    value: Wanted = None
    flag: str | None = None
    default: str | None = None
    set_to: Any = None
    unless: tuple[str, str] | None = None
    zero_is_default: bool = False


@dataclass(frozen=True)
class LiveTest:
    """Judged from a live probe (kubeharden.host.probes) made from the machine running the checks."""

    probe: str


Test = FlagTest | FileTest | UrlsTest | ListenTest | ConfigTest | EncryptionTest | FirewallTest | KubeletTest | LiveTest


@dataclass(frozen=True)
class WhenProfile:
    """The control is asked for only when the profile key is true (or its list contains ``contains``)."""

    key: str
    contains: str | None = None

    def holds(self, profile: Mapping[str, Any]) -> bool:
        value = profile.get(self.key)
        if self.contains is None:
            return bool(value)
        return isinstance(value, list | tuple) and self.contains in value

    def describe(self) -> str:
        if self.contains is None:
            return f"{self.key} is false"
        return f"{self.key} does not list {self.contains}"


AppliedBy = Literal["tests", "planner", "firewall", "none"]
"""How harden applies a control: ``tests`` (the generic fix of each test), ``planner`` (a planner registered by the
control's ID in kubeharden.core.planning), ``firewall`` (the firewall area's ruleset), ``none`` (judged only: the
remediation says what to do; live proofs and things kubeharden never changes)."""


@dataclass(frozen=True)
class Control:
    """One control: what is checked, what is set, why, and how to fix it by hand."""

    id: str
    title: str
    area: str
    component: str | None
    tests: tuple[Test, ...]
    applied_by: AppliedBy = "tests"
    remediation: str = ""
    """Empty: generated from the tests (``set --profiling=false``)."""
    expected: str = ""
    """Empty: generated from the tests and the profile (``profile: >= 90; CIS: >= 30``)."""
    layer: str = "cluster"
    roles: tuple[str, ...] = (CONTROL_PLANE,)
    scored: bool = True
    rationale: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    when: WhenProfile | None = None
    owns: tuple[str, ...] = ()
    """Flags the control's registered planner writes beyond its tests (refused in extra args unless waived)."""
    reads: tuple[str, ...] = ()
    """Profile keys the control's planner (or the firewall) reads beyond its tests' Params (for the docs)."""

    @property
    def flag_tests(self) -> tuple[FlagTest, ...]:
        return tuple(t for t in self.tests if isinstance(t, FlagTest))

    @property
    def file_tests(self) -> tuple[FileTest, ...]:
        return tuple(t for t in self.tests if isinstance(t, FileTest))

    @property
    def kubelet_tests(self) -> tuple[KubeletTest, ...]:
        return tuple(t for t in self.tests if isinstance(t, KubeletTest))

    @property
    def live(self) -> bool:
        return any(isinstance(t, LiveTest) for t in self.tests)

    @property
    def cis(self) -> bool:
        """Whether the ID is a CIS Kubernetes Benchmark ID (kubeharden's own controls start with KH-)."""
        return not self.id.startswith("KH-")


def resolve(value: Wanted, profile: Mapping[str, Any]) -> str | tuple[str, ...] | None:
    """A test's wanted value for this profile (a Param becomes the profile's value; lists become tuples)."""
    if isinstance(value, Param):
        found = profile.get(value.key)
        if found is None:
            return None
        if isinstance(found, list | tuple):
            return tuple(str(v) for v in found)
        return str(found)
    return value


def cis_value(value: Wanted) -> str | tuple[str, ...] | None:
    """The benchmark's own value of a test (a Param's ``cis``; a literal is its own)."""
    if isinstance(value, Param):
        cis = value.cis
        return str(cis) if isinstance(cis, int) else cis
    return value
