"""The tools planners edit a static pod with: flag edits recorded as changes tagged by control, hostPath mounts
for the files kubeharden writes, kubeharden's own directories, probes that follow a moved listener.

Every edit goes through the StaticPod model (never a regex). Pure logic.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from kubeharden.core.manifests import ManifestError, StaticPod
from kubeharden.core.planning.plan import Change, ComponentPlan, PlannedFile, PlannedVolume, Setting
from kubeharden.core.versions import Version

KUBEADM_PKI = "/etc/kubernetes/pki"
SHARED_DIRS = frozenset(
    {
        "/",
        "/etc",
        "/etc/kubernetes",
        "/etc/kubernetes/pki",
        "/etc/kubernetes/manifests",
        "/etc/ssl",
        "/run",
        "/srv",
        "/tmp",  # noqa: S108 -- a path refused as a mount, not used
        "/usr",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/run",
    }
)
"""System directories whose modes kubeharden never changes (its own directories are 0700)."""
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
KUBEADM_VOLUMES = frozenset(
    {
        "ca-certs",
        "etc-ca-certificates",
        "etc-pki",
        "k8s-certs",
        "usr-share-ca-certificates",
        "usr-local-share-ca-certificates",
        "kubeconfig",
        "flexvolume-dir",
        "etcd-data",
        "etcd-certs",
    }
)
"""Volumes kubeadm generates itself: never copied into ClusterConfiguration extraVolumes."""


def shown(value: str | None) -> str:
    return "(unset)" if value is None else (value or '""')


def pki_dir(pod: StaticPod) -> str:
    """Where this manifest keeps the cluster PKI (minikube: /var/lib/minikube/certs), from the flags that name
    files directly in it; kubeadm's /etc/kubernetes/pki when none does."""
    for flag in (
        "--client-ca-file",
        "--tls-cert-file",
        "--kubelet-client-certificate",
        "--service-account-key-file",
        "--root-ca-file",
        "--service-account-private-key-file",
        "--cluster-signing-cert-file",
    ):
        value = pod.get_flag(flag)
        if value and value.startswith("/"):
            return posixpath.dirname(value)
    return KUBEADM_PKI


def etcd_pki_dir(pod: StaticPod) -> str:
    for flag in ("--trusted-ca-file", "--cert-file", "--peer-trusted-ca-file", "--etcd-cafile"):
        value = pod.get_flag(flag)
        if value and value.startswith("/"):
            return posixpath.dirname(value)
    return f"{pki_dir(pod)}/etcd"


class PodEditor:
    """Edits one component's StaticPod for a plan, recording changes, settings, notes and problems."""

    def __init__(
        self,
        pod: StaticPod,
        profile: Mapping[str, Any],
        version: Version,
        plan: ComponentPlan,
        context: Mapping[str, Any] | None = None,
    ) -> None:
        self.pod = pod
        self.values = profile
        self.version = version
        self.plan = plan
        self.context: Mapping[str, Any] = context or {}
        """Run-wide decisions the planners need (the EncryptionConfiguration text under ``encryption_config``)."""
        self.pki = pki_dir(pod)
        self.etcd_pki = etcd_pki_dir(pod)

    @property
    def component(self) -> str:
        return self.pod.component

    # -- bookkeeping -----------------------------------------------------------------------------------

    def change(self, control_id: str | None, description: str, origin: str = "") -> None:
        self.plan.changes.append(Change(control_id, description, origin))

    def problem(self, sentence: str) -> None:
        if sentence not in self.plan.problems:
            self.plan.problems.append(sentence)

    def note(self, sentence: str) -> None:
        if sentence not in self.plan.notes:
            self.plan.notes.append(sentence)

    def defer(self, control_id: str) -> None:
        """This plan leaves ``control_id`` to someone else (the run, a later version); a note says why."""
        if control_id not in self.plan.deferred:
            self.plan.deferred.append(control_id)

    def setting(self, control_id: str | None, flag: str, value: str | None) -> None:
        self.plan.settings = [s for s in self.plan.settings if s.flag != flag]
        self.plan.settings.append(Setting(control_id, flag, value))

    def placeholders(self, text: str) -> str:
        """``{pki}`` and ``{etcd_pki}`` in a catalog default: this manifest's PKI directories."""
        return text.replace("{pki}", self.pki).replace("{etcd_pki}", self.etcd_pki)

    def require(self, path: str) -> None:
        """The file a flag names must exist on the node (checked before anything is changed)."""
        if not path.startswith("/"):
            return  # lint reports relative paths
        host = self.pod.host_path_for(path) or path
        if host not in self.plan.required_paths:
            self.plan.required_paths.append(host)

    # -- flag edits --------------------------------------------------------------------------------------

    def set(self, control_id: str | None, flag: str, value: str, *, carry: bool = True, origin: str = "") -> None:
        """Give ``flag`` exactly ``value`` (one occurrence); ``carry``: also into kubeadm's ClusterConfiguration."""
        old = self.pod.get_flag(flag)
        if self.pod.set_flag(flag, value):
            self.change(control_id, f"{flag}: {shown(old)} -> {value}", origin)
        if carry:
            self.setting(control_id, flag, value)

    def remove(self, control_id: str | None, flag: str, why: str = "", *, carry: bool = True) -> None:
        old = self.pod.get_flag(flag)
        if self.pod.remove_flag(flag):
            self.change(control_id, f"{flag}: {shown(old)} -> removed{f' ({why})' if why else ''}")
        if carry:
            self.setting(control_id, flag, None)

    # -- volumes and files -------------------------------------------------------------------------------

    def ensure_visible(self, control_id: str, path: str, name: str, *, kind: str) -> bool:
        """Make host ``path`` visible at the same path inside the container: ``kind`` "file" (File, read-only),
        "dir" (DirectoryOrCreate, writable) or "pki" (DirectoryOrCreate, read-only; any existing mount will do).
        Returns False (with a problem) when that cannot be done without clashing with the manifest."""
        writable = kind == "dir"
        wanted = posixpath.normpath(path)
        found = self.pod.volume_for_path(wanted)
        if found is not None:
            volume, mount = found
            access_fits = kind == "pki" or mount.read_only is not writable
            if self.pod.host_path_for(wanted) == wanted and access_fits:
                if kind != "pki":
                    self._record_volume(control_id, volume.name)
                return True
        type_ = "File" if kind == "file" else "DirectoryOrCreate"
        try:
            added = self.pod.add_host_path_volume(name, wanted, wanted, read_only=not writable, type_=type_)
        except ManifestError as error:
            for sentence in error.problems:
                self.problem(f"{self.component}: cannot mount {wanted} for control {control_id}: {sentence}")
            return False
        if added:
            access = "writable" if writable else "read-only"
            self.change(control_id, f"hostPath volume {name}: {wanted} ({type_}) mounted {access} at {wanted}")
        if kind != "pki":
            self._record_volume(control_id, name)
        return True

    def _record_volume(self, control_id: str, name: str) -> None:
        if name in KUBEADM_VOLUMES:
            return
        volume = next(v for v in self.pod.host_path_volumes() if v.name == name)
        mount = next(m for m in self.pod.volume_mounts() if m.name == name)
        planned = PlannedVolume(control_id, name, volume.path, mount.mount_path, mount.read_only, volume.type)
        self.plan.volumes = [v for v in self.plan.volumes if v.name != name]
        self.plan.volumes.append(planned)

    def directory(self, path: str) -> None:
        """A directory kubeharden owns, created (or tightened) to 0700 before the files; shared system
        directories (/etc/kubernetes, /var/log, ...) are never listed, so their modes stay as they are."""
        normal = posixpath.normpath(path)
        if normal not in SHARED_DIRS and normal not in dict(self.plan.directories):
            self.plan.directories.append((normal, 0o700))

    def write_file(self, control_id: str, path: str, content: str, volume: str, *, secret: bool = False) -> bool:
        """A whole file kubeharden owns, mounted read-only into the pod at the same path."""
        path = posixpath.normpath(path)
        manifests_dir = posixpath.dirname(posixpath.normpath(self.plan.manifest_path))
        if posixpath.dirname(path) == manifests_dir:
            self.problem(
                f"{self.component}: {path} is in the static pod directory {manifests_dir}, where the kubelet "
                "tries to run every file: choose a path outside it in the profile"
            )
            return False
        self.directory(posixpath.dirname(path))
        self.plan.files.append(PlannedFile(path, content, control_id, secret=secret))
        return self.ensure_visible(control_id, path, volume, kind="file")

    # -- probes ------------------------------------------------------------------------------------------

    def align_probes(self, control_id: str, host: str | None, port: int | None) -> None:
        """Point the kubelet's HTTP probes at where the component now listens."""
        container = self.pod.container
        for probe_name in PROBES:
            probe = container.get(probe_name)
            http = probe.get("httpGet") if isinstance(probe, dict) else None
            if not isinstance(http, dict):
                continue
            if host is not None and http.get("host") != host:
                old = http.get("host")
                http["host"] = host
                self.change(control_id, f"{probe_name} host: {shown(old)} -> {host}")
            if port is None:
                continue
            current = http.get("port")
            if isinstance(current, str) and not current.isdigit():
                for entry in container.get("ports") or []:
                    if isinstance(entry, dict) and entry.get("name") == current and entry.get("containerPort") != port:
                        old_port = entry.get("containerPort")
                        entry["containerPort"] = port
                        self.change(control_id, f"container port {current}: {old_port} -> {port}")
            elif str(current) != str(port):
                http["port"] = port
                self.change(control_id, f"{probe_name} port: {current} -> {port}")
