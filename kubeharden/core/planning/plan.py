"""What a plan holds: the hardened manifest of one component, the supporting files it needs, the changes (each
tagged with the catalog control it serves), and what kubeadm's ClusterConfiguration must carry. Pure data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class PlannedFile:
    """A supporting file to write before the manifest (whole file, owned by kubeharden)."""

    path: str
    content: str = field(repr=False)
    control_id: str = ""
    mode: int = 0o600
    owner: str = "root:root"
    secret: bool = False
    """Holds key material (the EncryptionConfiguration): never shown, diffed or logged."""


@dataclass(frozen=True)
class Change:
    """One planned edit and the control it serves (None: a profile's extra flags, named by ``origin``); the
    description never carries a secret."""

    control_id: str | None
    description: str
    origin: str = ""


@dataclass(frozen=True)
class Setting:
    """A flag the planner decided: ``value`` is what the planned manifest has, None means it must be absent.
    plan_cluster_configuration copies these into kubeadm's extraArgs."""

    control_id: str | None
    flag: str
    value: str | None


@dataclass(frozen=True)
class PlannedVolume:
    """A hostPath volume the planned manifest relies on for a file the planner set up."""

    control_id: str
    name: str
    host_path: str
    mount_path: str
    read_only: bool
    path_type: str


@dataclass
class ComponentPlan:
    """Everything the deploy needs to harden one component on one node."""

    component: str
    manifest_path: str
    version: tuple[int, int, int] | None
    before: str
    after: str
    changes: list[Change] = field(default_factory=list)
    files: list[PlannedFile] = field(default_factory=list)
    directories: list[tuple[str, int]] = field(default_factory=list)
    required_paths: list[str] = field(default_factory=list)
    waived: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Decisions worth telling the operator that change nothing (e.g. why anonymous auth stays on)."""
    settings: list[Setting] = field(default_factory=list)
    """Every flag the planner decided, changed or not (for kubeadm's ClusterConfiguration)."""
    volumes: list[PlannedVolume] = field(default_factory=list)
    """hostPath volumes serving the files the planner set up (for kubeadm's extraVolumes)."""
    deferred: list[str] = field(default_factory=list)
    """Controls this plan cannot decide alone (a note says why): not held against the plan by its self-check."""

    @property
    def changed(self) -> bool:
        """Whether the manifest changes (supporting files and directories are desired state the deploy compares
        on the host itself)."""
        return self.after != self.before

    @property
    def control_ids(self) -> list[str]:
        """The controls the manifest's changes serve, sorted."""
        return sorted({c.control_id for c in self.changes if c.control_id})
