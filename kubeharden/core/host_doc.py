"""The typed contract of the on-host collector (kubeharden/host/onhost/collector.py): what it is asked to collect
(CollectSpec) and the JSON document it prints (HostDocument).

Both harden's facts and verify read the same document; pyinfra-style TypedDict outputs, so a reader sees every field
in one place. The collector runs on the host's own python3 and imports nothing from here: these declarations are
checked against what it really prints by tests/unit/test_collector.py. Errors travel as ``error`` fields, never as
zeros or empty lists that would read as "nothing found".
"""

from __future__ import annotations

from typing import TypedDict

MARKER = "KUBEHARDEN-STATE "
"""Prefix of the one line carrying the document (anything a login script prints is ignored)."""
FORMAT = 2


class EncryptionSpec(TypedDict, total=False):
    resources: list[str]
    sample: int
    """Raw etcd values read per resource; 0 reads every one (harden's proof after a rewrite)."""


class FirewallSpec(TypedDict):
    table: str
    persist: str
    conf: str
    include: str
    state_file: str


class CollectSpec(TypedDict, total=False):
    components: list[str]
    manifest_dir: str
    kubelet_config: str
    kubelet_units: list[str]
    kubelet_env_files: list[str]
    kubelet_probe_targets: list[str]
    """Node addresses whose kubelet a control plane probes anonymously (verify's live kubelet probe)."""
    stat_paths: list[str]
    stat_globs: list[str]
    stat_flags: list[list[str]]
    """[component, flag]: stat the path the flag names (as the component's process sees it)."""
    read_flags: list[list[str]]
    """[component, flag]: read the config file the flag names (never key material)."""
    never_read_flags: list[list[str]]
    hash_paths: list[str]
    """Regular files whose sha256 is wanted (harden compares planned files with these)."""
    env: dict[str, list[str]]
    encryption: EncryptionSpec
    secret_read: list[str]
    """Files read back WITH their content: only harden's EncryptionConfiguration read-back, never verify."""
    firewall: FirewallSpec
    kubeadm_config: bool
    """Read kubeadm's ClusterConfiguration (kubeadm-config ConfigMap, through admin.conf)."""
    max_bytes: int


class FileStatDoc(TypedDict, total=False):
    exists: bool
    mode: str
    uid: int
    gid: int
    user: str
    group: str
    kind: str
    via: str
    sha256: str
    error: str


class ConfigDoc(TypedDict, total=False):
    text: str
    via: str
    missing: bool
    error: str


class ProcessDoc(TypedDict):
    pid: int
    argv: list[str]


class ComponentDoc(TypedDict, total=False):
    manifest_path: str
    manifest: str
    manifest_error: str
    processes: list[ProcessDoc]
    env: dict[str, str]


class EncryptionConfigDoc(TypedDict, total=False):
    path: str
    sha256: str
    rules: list[dict[str, object]]
    """[{resources: [...], providers: [{type, keys: [names], api_version?}]}]: names only, never a key."""
    missing: bool
    error: str


class EtcdRawDoc(TypedDict, total=False):
    sampled: int
    prefixes: dict[str, int]
    """``k8s:enc:<provider>:v1:<key name>`` (or ``unencrypted``) -> how many values carry it."""
    error: str


class EncryptionDoc(TypedDict, total=False):
    config: EncryptionConfigDoc
    etcd: dict[str, EtcdRawDoc]
    """Per resource; when etcd cannot be read at all: {"error": {"error": why}} is avoided, the key ``error`` holds
    the sentence instead (``{"error": "etcdctl is not installed ..."}``)."""
    volume: dict[str, object]


class FirewallDoc(TypedDict, total=False):
    nft: str | None
    loaded: str | None
    nft_error: str
    persist: FileStatDoc
    include: bool
    service: str | None
    state: dict[str, object] | None


class SecretDoc(TypedDict, total=False):
    sha256: str
    text: str
    missing: bool
    error: str


class KubeletDoc(TypedDict, total=False):
    processes: list[ProcessDoc]
    config_path: str
    config: str
    units: dict[str, str]
    """The kubelet unit and its drop-ins (path -> text), in the order systemd reads them."""
    env_files: dict[str, str]
    """kubeadm-flags.env and /etc/default/kubelet (path -> text), when present."""


class HostDocument(TypedDict, total=False):
    format: int
    hostname: str
    python: str
    uid: int
    components: dict[str, ComponentDoc]
    files: dict[str, FileStatDoc]
    globs: dict[str, list[str]]
    configs: dict[str, ConfigDoc]
    kubelet: KubeletDoc
    encryption: EncryptionDoc
    firewall: FirewallDoc
    secrets: dict[str, SecretDoc]
    kubeadm_config: ConfigDoc
    kubelet_configmap: ConfigDoc
    kubelet_probes: dict[str, dict[str, dict[str, object]]]
    """address -> {"anonymous": {status|error}, "read_only": {status|error}}, on a control plane."""
    """kubeadm's kubelet-config ConfigMap (its KubeletConfiguration), with kubeadm_config."""
    listeners_source: str
    listeners: list[list[object]]
    errors: list[str]
    fatal: str
