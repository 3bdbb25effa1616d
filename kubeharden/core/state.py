"""One host's collected state as the judge reads it, built from the collector's document (core/host_doc.py).

The document is turned into components (manifest and running process, whose flags win, as kube-bench says), file
stats, config texts and TCP listeners. Flags are parsed per process with the manifest model, never by substring
over `ps` text. Pure logic, no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeharden.core import kubelet_config
from kubeharden.core.catalog import ETCD
from kubeharden.core.collection import KUBELET_CONFIG, MANIFEST_DIR, etcd_env_name
from kubeharden.core.host_doc import MARKER, HostDocument
from kubeharden.core.kubelet_config import EffectiveKubelet
from kubeharden.core.manifests import ManifestError, StaticPod, load_manifest
from kubeharden.core.versions import Version


class CollectionError(RuntimeError):
    """A host's state could not be collected or read; the message says which host and why."""


@dataclass(frozen=True)
class FileStat:
    """Mode and owner of one path on the host (`exists` False when it is not there)."""

    path: str
    exists: bool
    mode: int | None = None
    user: str = ""
    group: str = ""
    kind: str = ""
    via: str = "host"
    error: str | None = None
    sha256: str | None = None

    @property
    def owner(self) -> str:
        return f"{self.user}:{self.group}"

    def describe(self) -> str:
        if not self.exists:
            return f"{self.path} does not exist" + (f" ({self.error})" if self.error else "")
        return f"{self.path} mode {self.mode:o} {self.owner}" if self.mode is not None else self.path


@dataclass(frozen=True)
class ConfigText:
    """A config file's text as the process sees it, or why it could not be read."""

    path: str
    text: str | None
    error: str | None = None
    missing: bool = False


@dataclass(frozen=True)
class SecretText:
    """A file read back with its content (harden's EncryptionConfiguration); the text never shows in a repr."""

    path: str
    sha256: str | None
    text: str | None = field(default=None, repr=False)
    missing: bool = False
    error: str | None = None


@dataclass(frozen=True)
class FlagValue:
    """A flag's effective value and where it came from (running process, manifest, or etcd's environment)."""

    value: str | None
    where: str


def _pod_from_argv(component: str, argv: list[str], image: str) -> StaticPod:
    """The running process's argv in the manifest model, so flags combine exactly as the binary combines them."""
    document = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": component, "labels": {"component": component}},
        "spec": {"containers": [{"name": component, "image": image, "command": list(argv)}]},
    }
    return StaticPod(document, source=f"{component} process")


@dataclass
class ComponentState:
    """A control-plane component: its manifest and its running process(es)."""

    name: str
    manifest_path: str
    manifest: StaticPod | None = None
    manifest_text: str | None = field(default=None, repr=False)
    manifest_error: str | None = None
    pids: tuple[int, ...] = ()
    process: StaticPod | None = None
    process_error: str | None = None
    env: dict[str, str] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.process is not None

    @property
    def present(self) -> bool:
        return self.process is not None or self.manifest is not None or self.manifest_error is not None

    @property
    def version(self) -> Version | None:
        return self.manifest.version if self.manifest is not None else None

    @property
    def source(self) -> str:
        return "running process" if self.process is not None else "manifest"

    def flag(self, name: str) -> FlagValue:
        """The running process's flag wins over the manifest; etcd also reads ETCD_* variables."""
        pod = self.process or self.manifest
        value = pod.get_flag(name) if pod is not None else None
        if value is None and self.name == ETCD and etcd_env_name(name) in self.env:
            return FlagValue(self.env[etcd_env_name(name)], f"environment {etcd_env_name(name)}")
        return FlagValue(value, self.source)

    def describe(self) -> str:
        version = ".".join(map(str, self.version)) if self.version else "version unknown"
        if self.running:
            state = f"running (pid {', '.join(map(str, self.pids))})"
        else:
            state = "not running, judged from its manifest"
        return f"{self.name} {version}: {state}"


@dataclass
class HostState:
    """Everything judged about one host, collected in one remote command."""

    host: str
    role: str
    address: str
    hostname: str = ""
    components: dict[str, ComponentState] = field(default_factory=dict)
    files: dict[str, FileStat] = field(default_factory=dict)
    globs: dict[str, list[str]] = field(default_factory=dict)
    configs: dict[str, ConfigText] = field(default_factory=dict)
    kubelet_config_path: str = KUBELET_CONFIG
    kubelet_config: str | None = None
    kubelet: EffectiveKubelet | None = None
    """The kubelet's effective configuration (flags over config file); None when the host has no kubelet at all
    (no process, no unit, no config file)."""
    listeners: list[tuple[str, int]] = field(default_factory=list)
    listeners_source: str = ""
    notes: list[str] = field(default_factory=list)
    firewall: dict[str, Any] | None = None
    """remote.py's firewall_state: {"loaded": nft -j text | None, "persist": stat, "include": bool, "service": str}."""
    encryption: dict[str, Any] = field(default_factory=dict)
    """Parsed on the host: {"config": {path, sha256, rules: [{resources, providers: [{type, keys: [names]}]}]},
    "etcd": {resource: {sampled, prefixes: {"k8s:enc:secretbox:v1:NAME": n}}}, "volume": {...}}; no secret."""
    secrets: dict[str, SecretText] = field(default_factory=dict)
    """Files read back with their content: only in harden's collection (spec secret_read)."""
    kubeadm_config: ConfigText | None = None
    kubelet_configmap: ConfigText | None = None
    """kubeadm's kubelet-config ConfigMap (harden's collection on the first control plane)."""
    kubelet_probes: dict[str, Any] = field(default_factory=dict)
    """What this control plane's anonymous probes got from each node's kubelet (verify)."""
    """kubeadm's ClusterConfiguration (harden's collection on the first control plane)."""
    uid: int = 0

    def component(self, name: str) -> ComponentState | None:
        found = self.components.get(name)
        return found if found is not None and found.present else None

    def listening_on(self, port: int) -> list[str]:
        return [f"{addr}:{p}" for addr, p in self.listeners if p == port]


def parse_output(host: str, stdout: str) -> HostDocument:
    """The JSON document from the collector's output (the last marker line; anything a login script printed is
    ignored)."""
    lines = [line for line in stdout.splitlines() if line.startswith(MARKER)]
    if not lines:
        shown = stdout.strip()[-300:] or "(nothing)"
        raise CollectionError(f"host {host}: the collection script printed no result; its output was: {shown}")
    try:
        document = json.loads(lines[-1][len(MARKER) :])
    except json.JSONDecodeError as exc:
        raise CollectionError(f"host {host}: the collection result is not valid JSON ({exc})") from exc
    if not isinstance(document, dict):
        raise CollectionError(f"host {host}: the collection result is not a JSON object")
    if "fatal" in document:
        raise CollectionError(f"host {host}: the collection script failed on the host: {document['fatal']}")
    found: HostDocument = document  # type: ignore[assignment]
    return found


def _component(name: str, raw: Mapping[str, Any]) -> ComponentState:
    comp = ComponentState(name, str(raw.get("manifest_path", f"{MANIFEST_DIR}/{name}.yaml")))
    text = raw.get("manifest")
    if isinstance(text, str):
        comp.manifest_text = text
        try:
            comp.manifest = load_manifest(text, source=comp.manifest_path)
        except (ManifestError, ValueError) as exc:
            comp.manifest_error = str(exc)
    elif raw.get("manifest_error"):
        comp.manifest_error = f"{comp.manifest_path}: {raw['manifest_error']}"
    processes = [p for p in raw.get("processes") or [] if isinstance(p, dict) and p.get("argv")]
    comp.pids = tuple(int(p["pid"]) for p in processes)
    if processes:
        image = comp.manifest.image if comp.manifest is not None else "unknown"
        try:
            comp.process = _pod_from_argv(name, [str(w) for w in processes[0]["argv"]], image)
        except ManifestError as exc:
            comp.process_error = str(exc)
    comp.env = {str(k): str(v) for k, v in (raw.get("env") or {}).items()}
    return comp


def host_state(host: str, role: str, address: str, document: Mapping[str, Any]) -> HostState:
    """Build a HostState from the collector's document."""
    state = HostState(host, role, address, hostname=str(document.get("hostname", "")))
    state.uid = int(document.get("uid", 0))
    if document.get("uid", 0) != 0:
        state.notes.append(
            f"collected as uid {document.get('uid')}, not root: manifests, /proc/<pid>/root and some files may be "
            "unreadable (set _sudo=True in the host's data)"
        )
    for name, raw in (document.get("components") or {}).items():
        state.components[name] = _component(name, raw)
        comp = state.components[name]
        if len(comp.pids) > 1:
            state.notes.append(f"{name}: {len(comp.pids)} processes (pids {comp.pids}); judged the first")
        if comp.process_error:
            state.notes.append(f"{name}: cannot model the running process's command line: {comp.process_error}")
        if comp.manifest_error:
            state.notes.append(f"{name}: {comp.manifest_error}")
    for path, raw in (document.get("files") or {}).items():
        mode = raw.get("mode")
        state.files[path] = FileStat(
            path,
            bool(raw.get("exists")),
            int(mode, 8) if isinstance(mode, str) else None,
            str(raw.get("user", "")),
            str(raw.get("group", "")),
            str(raw.get("kind", "")),
            str(raw.get("via", "host")),
            raw.get("error"),
            raw.get("sha256"),
        )
    state.globs = {str(k): [str(p) for p in v] for k, v in (document.get("globs") or {}).items()}
    for path, raw in (document.get("configs") or {}).items():
        state.configs[path] = ConfigText(path, raw.get("text"), raw.get("error"), bool(raw.get("missing")))
    kubelet = document.get("kubelet") or {}
    state.kubelet_config_path = str(kubelet.get("config_path", KUBELET_CONFIG))
    state.kubelet_config = kubelet.get("config")
    processes = kubelet.get("processes") or []
    running = [str(a) for a in processes[0].get("argv", [])] if processes else None
    units = [str(t) for t in (kubelet.get("units") or {}).values()]
    if running or units or state.kubelet_config is not None:
        env_files = {str(k): str(v) for k, v in (kubelet.get("env_files") or {}).items()}
        state.kubelet = kubelet_config.effective(
            running, units, env_files, state.kubelet_config, state.kubelet_config_path
        )
    state.listeners = [(str(a), int(p)) for a, p in document.get("listeners") or []]
    state.listeners_source = str(document.get("listeners_source", ""))
    state.firewall = document.get("firewall")
    state.encryption = dict(document.get("encryption") or {})
    state.kubelet_probes = dict(document.get("kubelet_probes") or {})
    raw_kubelet = document.get("kubelet_configmap")
    if isinstance(raw_kubelet, dict):
        state.kubelet_configmap = ConfigText(
            "kubelet-config", raw_kubelet.get("text"), raw_kubelet.get("error"), bool(raw_kubelet.get("missing"))
        )
    raw_config = document.get("kubeadm_config")
    if isinstance(raw_config, dict):
        state.kubeadm_config = ConfigText(
            "kubeadm-config", raw_config.get("text"), raw_config.get("error"), bool(raw_config.get("missing"))
        )
    for path, raw in (document.get("secrets") or {}).items():
        state.secrets[path] = SecretText(
            path, raw.get("sha256"), raw.get("text"), bool(raw.get("missing")), raw.get("error")
        )
    return state
