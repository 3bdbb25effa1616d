"""The hardening planner: from a control-plane static pod manifest and the profile to the hardened manifest, the
supporting files it needs (audit policy, AdmissionConfiguration, AuthenticationConfiguration), and the same
settings for kubeadm's ClusterConfiguration so that ``kubeadm upgrade`` keeps them.

Pure logic, no I/O on any host: text and a profile in, a plan out. Every edit goes through the StaticPod model
(never a regex), is tagged with the control it serves (a CIS ID from the catalog, or KH-...), and is checked
afterwards by lint and the version rules: a plan with ``problems`` must not be written. Planning the planned
manifest again changes nothing (idempotent), and a manifest that is already hardened comes back byte for byte.

Decisions a reader should know about:
- Numbers and TLS versions in the profile are minimums: a stricter value already in the manifest is kept
  (``--audit-log-maxage=90`` stays, ``VersionTLS13`` stays when the profile says 1.2).
- Anonymous requests (CIS 1.2.1) follow ``versions.anonymous_auth_strategy``: on 1.34+ an
  AuthenticationConfiguration allows anonymous only on /livez, /readyz and /healthz and ``--anonymous-auth`` is
  removed (the two cannot be combined); on older versions the manifest keeps anonymous auth on, because
  kubeadm's probes call /livez and /readyz without credentials, and RBAC must restrict it (a note says so).
- Files kubeharden writes are its own: an ``--admission-control-config-file`` or ``--authentication-config``
  that already names another file is a problem (kubeharden cannot merge a file it cannot read); an
  ``--audit-policy-file`` elsewhere is replaced by kubeharden's policy and the change says so.
- Templates live in the package (``kubeharden/templates/etc/kubernetes/...``, paths mirroring the target) so an
  installed kubeharden finds them.
"""

from __future__ import annotations

import copy
import hashlib
import posixpath
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
import yaml

from kubeharden import versions
from kubeharden.lint import lint
from kubeharden.manifests import ManifestError, StaticPod, dump_manifest, load_manifest
from kubeharden.profile import AREA_SWITCHES, DEFAULTS, Profile
from kubeharden.versions import AnonymousAuthStrategy, Version

__all__ = [
    "COMPONENT_AREAS",
    "PLANNER_CONTROLS",
    "Change",
    "ComponentPlan",
    "PlannedFile",
    "PlannedVolume",
    "Setting",
    "plan_cluster_configuration",
    "plan_component",
    "render_manifest",
    "render_template",
]

APISERVER = "kube-apiserver"
CONTROLLER_MANAGER = "kube-controller-manager"
SCHEDULER = "kube-scheduler"
ETCD = "etcd"

COMPONENT_AREAS: Mapping[str, str] = {
    APISERVER: "apiserver",
    CONTROLLER_MANAGER: "controller-manager",
    SCHEDULER: "scheduler",
    ETCD: "etcd",
}
"""The four control-plane components the planner hardens, and the profile area each belongs to."""

PLANNER_CONTROLS: Mapping[str, str] = {
    "KH-API-BIND": "kube-apiserver listens on the profile's bind address and secure port",
    "KH-API-ADMISSION": "Admission plugins from the profile are enabled",
    "KH-KCM-TLS": "kube-controller-manager accepts TLS 1.2+ with strong cipher suites only",
    "KH-SCHED-TLS": "kube-scheduler accepts TLS 1.2+ with strong cipher suites only",
    "KH-ETCD-TLS": "etcd accepts TLS 1.2+ only (etcd 3.4.25+ / 3.5.8+)",
    "KH-EXTRA-ARGS": "Extra flags from the profile (kubeharden_*_extra_args)",
    "KH-CONFIG": "The manifest carries a hash of its kubeharden files, so a changed file restarts the component",
}
"""Control IDs the planner tags changes with that the catalog does not (yet) list; they can be waived only
through their area."""

KUBEADM_PKI = "/etc/kubernetes/pki"
_SHARED_DIRS = frozenset(
    {
        "/",
        "/etc",
        "/etc/kubernetes",
        "/etc/kubernetes/pki",
        "/etc/kubernetes/manifests",
        "/etc/ssl",
        "/run",
        "/srv",
        "/tmp",
        "/usr",
        "/var",
        "/var/lib",
        "/var/log",
        "/var/run",
    }
)
_UNSPECIFIED = frozenset({"0.0.0.0", "::"})
_PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
_PLUGIN_CONTROLS = {
    "NodeRestriction": "1.2.14",
    "EventRateLimit": "1.2.9",
    "AlwaysPullImages": "1.2.11",
    "DenyServiceExternalIPs": "1.2.3",
}
_TLS_RANK = {
    "VersionTLS10": 10,
    "VersionTLS11": 11,
    "VersionTLS12": 12,
    "VersionTLS13": 13,
    "TLS1.0": 10,
    "TLS1.1": 11,
    "TLS1.2": 12,
    "TLS1.3": 13,
}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# Volumes kubeadm generates itself: never copied into ClusterConfiguration extraVolumes.
_KUBEADM_VOLUMES = frozenset(
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


# ----------------------------------------------------------------------------------------------------
# The plan
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedFile:
    """A supporting file to write before the manifest (whole file, owned by kubeharden)."""

    path: str
    content: str
    mode: int = 0o600
    owner: str = "root:root"


@dataclass(frozen=True)
class Change:
    """One planned edit and the control it serves; the description never carries a secret."""

    control_id: str
    description: str


@dataclass(frozen=True)
class Setting:
    """A flag the planner decided: ``value`` is what the planned manifest has, None means it must be absent.
    plan_cluster_configuration copies these into kubeadm's extraArgs."""

    control_id: str
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
    """Everything the deploy needs to harden one component on one node; see the module docstring."""

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

    @property
    def changed(self) -> bool:
        """Whether the manifest changes (supporting files and directories are desired state the deploy
        compares on the host itself)."""
        return self.after != self.before


# ----------------------------------------------------------------------------------------------------
# Templates
# ----------------------------------------------------------------------------------------------------

_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("kubeharden", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,
)

AUDIT_POLICY_TEMPLATE = "etc/kubernetes/audit/policy.yaml.j2"
ADMISSION_CONFIG_TEMPLATE = "etc/kubernetes/admission/admission-config.yaml.j2"
AUTHENTICATION_CONFIG_TEMPLATE = "etc/kubernetes/authn/authentication-config.yaml.j2"


def render_template(name: str, **values: Any) -> str:
    """Render one of kubeharden's templates (``etc/kubernetes/...j2``); the result must be a YAML mapping."""
    text = _TEMPLATES.get_template(name).render(**values)
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError(f"template {name} did not render a YAML mapping; the template is broken")
    return text


# ----------------------------------------------------------------------------------------------------
# Planning one component
# ----------------------------------------------------------------------------------------------------


def _csv(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _shown(value: str | None) -> str:
    return "(unset)" if value is None else (value or '""')


class _Planner:
    """Applies the rules for one component to a StaticPod, recording changes, waivers and problems."""

    def __init__(
        self,
        pod: StaticPod,
        profile: Mapping[str, Any],
        version: Version,
        plan: ComponentPlan,
        encryption_config: str | None = None,
    ) -> None:
        self.pod = pod
        self.encryption_config = encryption_config
        self.values = profile
        self.profile = Profile(profile)
        self.version = version
        self.plan = plan
        self.area = COMPONENT_AREAS[pod.component]
        self._waived_seen: set[str] = set()

    # -- bookkeeping -----------------------------------------------------------------------------------

    def waived(self, control_id: str) -> bool:
        reason = self.profile.waived(control_id, self.area)
        if reason is None:
            return False
        if control_id not in self._waived_seen:
            self._waived_seen.add(control_id)
            self.plan.waived.append((control_id, str(reason)))
        return True

    def change(self, control_id: str, description: str) -> None:
        self.plan.changes.append(Change(control_id, description))

    def problem(self, sentence: str) -> None:
        if sentence not in self.plan.problems:
            self.plan.problems.append(sentence)

    def note(self, sentence: str) -> None:
        if sentence not in self.plan.notes:
            self.plan.notes.append(sentence)

    def _setting(self, control_id: str, flag: str, value: str | None) -> None:
        self.plan.settings = [s for s in self.plan.settings if s.flag != flag]
        self.plan.settings.append(Setting(control_id, flag, value))

    # -- flag edits --------------------------------------------------------------------------------------

    def set(self, control_id: str, flag: str, value: str, *, managed: bool = True) -> None:
        """Give ``flag`` exactly ``value`` (one occurrence)."""
        old = self.pod.get_flag(flag)
        if self.pod.set_flag(flag, value):
            self.change(control_id, f"{flag}: {_shown(old)} -> {value}")
        if managed:
            self._setting(control_id, flag, value)

    def remove(self, control_id: str, flag: str, why: str = "") -> None:
        old = self.pod.get_flag(flag)
        if self.pod.remove_flag(flag):
            self.change(control_id, f"{flag}: {_shown(old)} -> removed{f' ({why})' if why else ''}")
        self._setting(control_id, flag, None)

    def at_least(self, control_id: str, flag: str, minimum: int) -> None:
        """Numeric minimum: keep a larger value already there."""
        current = self.pod.get_flag(flag)
        if current is not None and current.strip().isdigit() and int(current) >= minimum:
            self.set(control_id, flag, current.strip())
        else:
            self.set(control_id, flag, str(minimum))

    def tls_min_version(self, control_id: str) -> None:
        wanted = versions.tls_version_spelling(self.pod.component, str(self.values["kubeharden_tls_min_version"]))
        current = self.pod.get_flag("--tls-min-version")
        if current is not None and _TLS_RANK.get(current.strip(), 0) >= _TLS_RANK[wanted]:
            same_family = current.strip().startswith("Version") == wanted.startswith("Version")
            if same_family:
                self.set(control_id, "--tls-min-version", current.strip())
                return
        self.set(control_id, "--tls-min-version", wanted)

    def cipher_suites(self, control_id: str) -> None:
        self.set(control_id, "--tls-cipher-suites", ",".join(self.values["kubeharden_tls_cipher_suites"]))

    def keep_path(self, control_id: str, flag: str, default: str, volume: str) -> None:
        """A file flag kubeadm sets: keep its value, or set kubeadm's default when it is missing (mounting its
        directory through ``volume`` if nothing mounts it yet); either way the file must exist on the host."""
        if self.waived(control_id):
            return
        value = self.pod.get_flag(flag)
        if not value:
            self.set(control_id, flag, default, managed=False)
            value = default
            self.ensure_visible(control_id, posixpath.dirname(default), volume, kind="pki")
        if not value.startswith("/"):
            return  # lint reports relative paths
        path = self.pod.host_path_for(value) or value
        if path not in self.plan.required_paths:
            self.plan.required_paths.append(path)

    # -- volumes -----------------------------------------------------------------------------------------

    def ensure_visible(self, control_id: str, path: str, name: str, *, kind: str) -> bool:
        """Make host ``path`` visible at the same path inside the container: ``kind`` "file" (File,
        read-only; a writable mount of its directory gets a read-only file mount on top), "dir"
        (DirectoryOrCreate, writable) or "pki" (DirectoryOrCreate, read-only; any existing mount will do).
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
                self.problem(f"{self.pod.component}: cannot mount {wanted} for control {control_id}: {sentence}")
            return False
        if added:
            access = "writable" if writable else "read-only"
            self.change(control_id, f"hostPath volume {name}: {wanted} ({type_}) mounted {access} at {wanted}")
        if kind != "pki":
            self._record_volume(control_id, name)
        return True

    def _record_volume(self, control_id: str, name: str) -> None:
        if name in _KUBEADM_VOLUMES:
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
        if normal not in _SHARED_DIRS and normal not in dict(self.plan.directories):
            self.plan.directories.append((normal, 0o700))

    def write_file(self, control_id: str, path: str, content: str, volume: str) -> bool:
        path = posixpath.normpath(path)
        manifests_dir = posixpath.dirname(posixpath.normpath(self.plan.manifest_path))
        if posixpath.dirname(path) == manifests_dir:
            self.problem(
                f"{self.pod.component}: {path} is in the static pod directory {manifests_dir}, where the kubelet "
                "tries to run every file: choose a path outside it in the profile"
            )
            return False
        self.directory(posixpath.dirname(path))
        self.plan.files.append(PlannedFile(path, content))
        return self.ensure_visible(control_id, path, volume, kind="file")

    # -- probes ------------------------------------------------------------------------------------------

    def align_probes(self, control_id: str, host: str | None, port: int | None) -> None:
        """Point the kubelet's HTTP probes at where the component now listens."""
        container = self.pod.container
        for probe_name in _PROBES:
            probe = container.get(probe_name)
            http = probe.get("httpGet") if isinstance(probe, dict) else None
            if not isinstance(http, dict):
                continue
            if host is not None and http.get("host") != host:
                old = http.get("host")
                http["host"] = host
                self.change(control_id, f"{probe_name} host: {_shown(old)} -> {host}")
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


# -- kube-apiserver ----------------------------------------------------------------------------------------


def _pki_dir(pod: StaticPod) -> str:
    """Where this manifest keeps the cluster PKI (minikube: /var/lib/minikube/certs), from the flags that
    name files directly in it; kubeadm's /etc/kubernetes/pki when none does."""
    for flag in ("--client-ca-file", "--tls-cert-file", "--kubelet-client-certificate", "--service-account-key-file"):
        value = pod.get_flag(flag)
        if value and value.startswith("/"):
            return posixpath.dirname(value)
    for flag in ("--root-ca-file", "--service-account-private-key-file", "--cluster-signing-cert-file"):
        value = pod.get_flag(flag)
        if value and value.startswith("/"):
            return posixpath.dirname(value)
    return KUBEADM_PKI


def _etcd_pki_dir(pod: StaticPod) -> str:
    for flag in ("--trusted-ca-file", "--cert-file", "--peer-trusted-ca-file", "--etcd-cafile"):
        value = pod.get_flag(flag)
        if value and value.startswith("/"):
            return posixpath.dirname(value)
    return f"{_pki_dir(pod)}/etcd"


def _apiserver(p: _Planner) -> None:
    pod, version, values = p.pod, p.version, p.values
    pki = _pki_dir(pod)
    etcd_pki = _etcd_pki_dir(pod)

    # KH-API-INSECURE: no insecure port (removed flags must go on 1.24+, the port must be 0 before)
    if not p.waived("KH-API-INSECURE"):
        if version >= (1, 24, 0):
            for flag in ("--insecure-port", "--insecure-bind-address", "--port", "--address"):
                p.remove("KH-API-INSECURE", flag, f"kube-apiserver {versions.format_version(version)} has no such flag")
        else:
            p.set("KH-API-INSECURE", "--insecure-port", "0")
            if pod.has_flag("--port"):
                p.set("KH-API-INSECURE", "--port", "0")
            for flag in ("--insecure-bind-address", "--address"):
                p.remove("KH-API-INSECURE", flag, "no insecure listener is served")

    # KH-API-BIND: bind address and secure port from the profile, probes follow
    bind, port = values["kubeharden_apiserver_bind_address"], values["kubeharden_apiserver_secure_port"]
    if (bind is not None or port is not None) and not p.waived("KH-API-BIND"):
        probe_host: str | None = None
        if bind is not None:
            p.set("KH-API-BIND", "--bind-address", str(bind))
            if str(bind) not in _UNSPECIFIED:
                probe_host = str(bind)
        probe_port: int | None = None
        if port is not None:
            if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
                p.problem(f"kube-apiserver: kubeharden_apiserver_secure_port={port!r} is not a port 1-65535")
            else:
                old_port = pod.get_flag("--secure-port") or "6443"
                p.set("KH-API-BIND", "--secure-port", str(port))
                probe_port = port
                _update_endpoint_annotation(p, old_port, str(port))
        p.align_probes("KH-API-BIND", probe_host, probe_port)

    # 1.2.1: anonymous requests restricted
    if not p.waived("1.2.1"):
        _anonymous(p)

    # 1.2.2: no static token file
    if not p.waived("1.2.2"):
        p.remove("1.2.2", "--token-auth-file", "static tokens never expire")

    # the certificates kubeadm sets: keep them, fill in kubeadm's defaults when missing
    for control_id, flag, default in (
        ("1.2.4", "--kubelet-client-certificate", f"{pki}/apiserver-kubelet-client.crt"),
        ("1.2.4", "--kubelet-client-key", f"{pki}/apiserver-kubelet-client.key"),
        ("1.2.22", "--service-account-key-file", f"{pki}/sa.pub"),
        ("1.2.23", "--etcd-certfile", f"{pki}/apiserver-etcd-client.crt"),
        ("1.2.23", "--etcd-keyfile", f"{pki}/apiserver-etcd-client.key"),
        ("1.2.24", "--tls-cert-file", f"{pki}/apiserver.crt"),
        ("1.2.24", "--tls-private-key-file", f"{pki}/apiserver.key"),
        ("1.2.25", "--client-ca-file", f"{pki}/ca.crt"),
        ("1.2.26", "--etcd-cafile", f"{etcd_pki}/ca.crt"),
    ):
        p.keep_path(control_id, flag, default, "etcd-certs" if "/etcd/" in default else "k8s-certs")

    # 1.2.5: verify the kubelets' serving certificates (only when they are signed by the cluster CA)
    if values["kubeharden_kubelet_serving_certs_signed"] and not p.waived("1.2.5"):
        authority = pod.get_flag("--kubelet-certificate-authority") or pod.get_flag("--client-ca-file")
        p.set("1.2.5", "--kubelet-certificate-authority", authority or f"{pki}/ca.crt")
        p.keep_path("1.2.5", "--kubelet-certificate-authority", f"{pki}/ca.crt", "k8s-certs")
    elif not values["kubeharden_kubelet_serving_certs_signed"] and not pod.has_flag("--kubelet-certificate-authority"):
        p.note(
            "1.2.5: --kubelet-certificate-authority is not set because kubeharden_kubelet_serving_certs_signed is "
            "false; enable serverTLSBootstrap on the kubelets, approve their CSRs, then set it to true"
        )

    _authorization(p)
    _admission(p)

    # 1.2.15: no profiling
    if not p.waived("1.2.15"):
        p.set("1.2.15", "--profiling", "false")

    _audit(p)
    _encryption(p)

    # 1.2.21 / 1.2.30: service-account tokens
    if not p.waived("1.2.21"):
        p.set("1.2.21", "--service-account-lookup", "true")
    if not p.waived("1.2.30"):
        p.set("1.2.30", "--service-account-extend-token-expiration", "false")

    # TLS: minimum version and strong cipher suites
    if not p.waived("KH-API-TLS"):
        p.tls_min_version("KH-API-TLS")
    if not p.waived("1.2.29"):
        p.cipher_suites("1.2.29")


def _update_endpoint_annotation(p: _Planner, old_port: str, new_port: str) -> None:
    """kubeadm records the apiserver endpoint (ADDRESS:PORT) in an annotation it reads back on upgrade."""
    key = "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"
    metadata = p.pod.document.get("metadata") or {}
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or not isinstance(annotations.get(key), str):
        return
    address, colon, port = annotations[key].rpartition(":")
    if colon and port == old_port and old_port != new_port:
        annotations[key] = f"{address}:{new_port}"
        p.change("KH-API-BIND", f"annotation {key}: {address}:{old_port} -> {address}:{new_port}")


def _anonymous(p: _Planner) -> None:
    pod, version = p.pod, p.version
    strategy = versions.anonymous_auth_strategy(version)
    if strategy is AnonymousAuthStrategy.RBAC_HEALTH_ONLY:
        shown = versions.format_version(version)
        if pod.get_flag("--anonymous-auth") == "false":
            p.note(
                f"1.2.1: kube-apiserver {shown} has --anonymous-auth=false; kept as it is (make sure the "
                "liveness, readiness and startup probes do not need anonymous access)"
            )
        else:
            p.note(
                f"1.2.1: kube-apiserver {shown} keeps anonymous auth on: kubeadm's probes call /livez and /readyz "
                "without credentials and --anonymous-auth=false would make the kubelet restart it forever; RBAC "
                "must grant system:unauthenticated nothing beyond the health and version endpoints (checked by "
                "the verification). From 1.34 kubeharden uses an AuthenticationConfiguration instead"
            )
        return
    path = str(p.values["kubeharden_authentication_config_file"])
    existing = pod.get_flag("--authentication-config")
    if existing and posixpath.normpath(existing) != posixpath.normpath(path):
        p.problem(
            f"kube-apiserver: --authentication-config already names {existing}, a file kubeharden does not manage "
            f"and cannot merge: add anonymous {{enabled: true, conditions: /livez, /readyz, /healthz}} to it and "
            f"set kubeharden_authentication_config_file to {existing}, or waive control 1.2.1"
        )
        return
    oidc = sorted({name for name, _ in pod.flag_items() if name.startswith("--oidc-")})
    if oidc:
        p.problem(
            f"kube-apiserver: {', '.join(oidc)} cannot be combined with --authentication-config: move the OIDC "
            "settings into a jwt authenticator of an AuthenticationConfiguration, or waive control 1.2.1"
        )
        return
    content = render_template(
        AUTHENTICATION_CONFIG_TEMPLATE,
        api_version="apiserver.config.k8s.io/v1",
        anonymous_paths=list(versions.ANONYMOUS_HEALTH_PATHS),
    )
    if p.write_file("1.2.1", path, content, "kubeharden-authn"):
        p.remove("1.2.1", "--anonymous-auth", "cannot be combined with an anonymous section in --authentication-config")
        p.set("1.2.1", "--authentication-config", path)
        p.note(
            "1.2.1: anonymous requests now reach only /livez, /readyz and /healthz (everything else, /version "
            "included, gets 401); `kubeadm join` with token discovery reads the cluster-info ConfigMap anonymously "
            "and fails: join new nodes with file discovery (--discovery-file) or a kubeconfig"
        )


def _encryption(p: _Planner) -> None:
    """1.2.27/1.2.28: the EncryptionConfiguration the deploy decided (its key read back from the control planes or
    generated once), written mode 600 and mounted read-only. Without one (``render``) nothing is planned."""
    values = p.values
    if not values.get("kubeharden_encryption_enabled", False):
        return
    if p.profile.waived("1.2.27", "encryption") or p.profile.waived("1.2.28", "encryption"):
        return
    if p.encryption_config is None:
        p.note(
            "1.2.27: the EncryptionConfiguration holds a key only the control planes have: `kubeharden harden` "
            "plans it from the hosts, this plan leaves --encryption-provider-config as it is"
        )
        return
    path = str(values["kubeharden_encryption_config_file"])
    if p.write_file("1.2.27", path, p.encryption_config, "kubeharden-encryption"):
        p.set("1.2.27", "--encryption-provider-config", path)
    endpoint = str(values.get("kubeharden_encryption_kms_endpoint") or "")
    if values.get("kubeharden_encryption_provider") == "kms" and endpoint.startswith("unix:///"):
        p.ensure_visible("1.2.28", posixpath.dirname(endpoint[len("unix://") :]), "kubeharden-kms", kind="dir")


def _authorization(p: _Planner) -> None:
    """1.2.6-1.2.8: Node and RBAC present, AlwaysAllow gone; other modes (Webhook, ...) are kept in place."""
    pod = p.pod
    controls = [c for c in ("1.2.6", "1.2.7", "1.2.8") if not p.waived(c)]
    if not controls:
        return
    if pod.has_flag("--authorization-config"):
        p.note(
            "1.2.6-1.2.8: kube-apiserver uses --authorization-config (structured authorization), which cannot be "
            "combined with --authorization-mode; kubeharden left it as it is: make sure it has Node and RBAC "
            "authorizers and no AlwaysAllow"
        )
        return
    modes = _csv(pod.get_flag("--authorization-mode"))
    if "1.2.6" in controls:
        modes = [m for m in modes if m != "AlwaysAllow"]
    if "1.2.7" in controls and "Node" not in modes:
        modes.insert(0, "Node")
    if "1.2.8" in controls and "RBAC" not in modes:
        modes.insert(modes.index("Node") + 1 if "Node" in modes else len(modes), "RBAC")
    if not modes:
        return
    # one edit, tagged with the first control it serves
    current = _csv(pod.get_flag("--authorization-mode"))
    reasons = {"1.2.6": "AlwaysAllow" in current, "1.2.7": "Node" not in current, "1.2.8": "RBAC" not in current}
    control_id = next((c for c in controls if reasons[c]), controls[-1])
    p.set(control_id, "--authorization-mode", ",".join(modes))


def _admission(p: _Planner) -> None:
    pod, version, values = p.pod, p.version, p.values
    shown = versions.format_version(version)
    removed = versions.removed_admission_plugins(version)
    enabled = _csv(pod.get_flag("--enable-admission-plugins"))
    served: str | None = None  # the last control that decided the plugin list

    def apply(control_id: str, plugins: list[str]) -> None:
        nonlocal enabled, served
        served = control_id
        if plugins != enabled:
            p.set(control_id, "--enable-admission-plugins", ",".join(plugins))
        enabled = plugins

    if not p.waived("1.2.10") and "AlwaysAdmit" in enabled:
        apply("1.2.10", [x for x in enabled if x != "AlwaysAdmit"])
    if not p.waived("KH-API-PSA") and removed & set(enabled):
        apply("KH-API-PSA", [x for x in enabled if x not in removed])
    for plugin in values["kubeharden_admission_plugins"]:
        control_id = _PLUGIN_CONTROLS.get(plugin, "KH-API-ADMISSION")
        if plugin in removed:
            p.note(
                f"{control_id}: kube-apiserver {shown} no longer has the admission plugin {plugin}; it is not "
                f"enabled ({versions.admission_plugin_replacement(plugin)})"
            )
            continue
        if plugin != "AlwaysAdmit" and not p.waived(control_id):
            apply(control_id, enabled if plugin in enabled else [*enabled, plugin])
    if served is not None and enabled:
        p._setting(served, "--enable-admission-plugins", ",".join(enabled))
    if served is not None and pod.has_flag("--admission-control"):
        p.problem(
            "kube-apiserver: the deprecated --admission-control cannot be combined with --enable-admission-plugins: "
            "move its plugins into --enable-admission-plugins and remove --admission-control"
        )

    # plugins that must not be disabled
    disabled = _csv(pod.get_flag("--disable-admission-plugins"))
    psa = version >= (1, 22, 0) and not p.waived("KH-API-PSA")
    for plugin, control_id in (
        ("ServiceAccount", "1.2.12"),
        ("NamespaceLifecycle", "1.2.13"),
        ("PodSecurity", "KH-API-PSA"),
        *((x, _PLUGIN_CONTROLS.get(x, "KH-API-ADMISSION")) for x in enabled),
    ):
        if plugin in disabled and not p.waived(control_id) and (plugin != "PodSecurity" or psa):
            disabled = [x for x in disabled if x != plugin]
            if disabled:
                p.set(control_id, "--disable-admission-plugins", ",".join(disabled))
            else:
                p.remove(control_id, "--disable-admission-plugins", f"{plugin} must stay enabled")

    # the AdmissionConfiguration: PodSecurity defaults and EventRateLimit's limits
    event_rate_limit = "EventRateLimit" in enabled
    erl_control = not p.waived("1.2.9")
    if version < (1, 22, 0) and not p.waived("KH-API-PSA"):
        p.note(
            f"KH-API-PSA: kube-apiserver {shown} has no Pod Security Admission (1.22 alpha, 1.23 beta, 1.25 "
            "stable); upgrade the cluster to get it"
        )
    elif psa and version < (1, 23, 0):
        p.note(
            f"KH-API-PSA: Pod Security Admission is alpha in kube-apiserver {shown} and enforces only with the "
            "PodSecurity feature gate, which kubeharden does not set"
        )
    if not (psa or (event_rate_limit and erl_control)):
        return
    control_id = "1.2.9" if event_rate_limit and erl_control else "KH-API-PSA"
    path = str(values["kubeharden_admission_config_file"])
    existing = pod.get_flag("--admission-control-config-file")
    if existing and posixpath.normpath(existing) != posixpath.normpath(path):
        p.problem(
            f"kube-apiserver: --admission-control-config-file already names {existing}, a file kubeharden does not "
            f"manage and cannot merge: add the PodSecurity and EventRateLimit configurations to it and set "
            f"kubeharden_admission_config_file to {existing}, or waive controls 1.2.9 and KH-API-PSA"
        )
        return
    pod_security: dict[str, Any] | None = None
    if psa:
        namespaces = list(dict.fromkeys(values["kubeharden_pod_security_exempt_namespaces"]))
        bad = [n for n in namespaces if not _DNS_LABEL.match(n) or len(n) > 63]
        if bad:
            p.problem(
                f"kube-apiserver: kubeharden_pod_security_exempt_namespaces has {', '.join(map(repr, bad))}, "
                "which is not a namespace name (a DNS label): fix the profile"
            )
            return
        pod_security = {
            "api_version": versions.admission_config_api_version(version),
            "enforce": values["kubeharden_pod_security_enforce"],
            "audit": values["kubeharden_pod_security_audit"],
            "warn": values["kubeharden_pod_security_warn"],
            "exempt_namespaces": namespaces,
        }
    limits: dict[str, int] | None = None
    if event_rate_limit:
        qps, burst = values["kubeharden_event_rate_limit_qps"], values["kubeharden_event_rate_limit_burst"]
        if not (isinstance(qps, int) and isinstance(burst, int) and qps > 0 and burst > 0):
            p.problem(
                f"kube-apiserver: EventRateLimit needs kubeharden_event_rate_limit_qps and _burst above 0, got "
                f"{qps!r} and {burst!r}: fix the profile"
            )
            return
        limits = {"qps": qps, "burst": burst}
    content = render_template(ADMISSION_CONFIG_TEMPLATE, pod_security=pod_security, event_rate_limit=limits)
    if p.write_file(control_id, path, content, "kubeharden-admission"):
        p.set(control_id, "--admission-control-config-file", path)


def _audit(p: _Planner) -> None:
    pod, values = p.pod, p.values
    if not p.waived("3.2.1"):
        policy = str(values["kubeharden_audit_policy_file"])
        content = render_template(AUDIT_POLICY_TEMPLATE)
        if p.write_file("3.2.1", policy, content, "kubeharden-audit-policy"):
            p.set("3.2.1", "--audit-policy-file", policy)
    if not p.waived("1.2.16"):
        log_path = str(values["kubeharden_audit_log_path"])
        directory = posixpath.dirname(posixpath.normpath(log_path))
        if directory not in dict(p.plan.directories):
            p.plan.directories.append((directory, 0o700))
        if p.ensure_visible("1.2.16", directory, "kubeharden-audit-log", kind="dir"):
            p.set("1.2.16", "--audit-log-path", log_path)
    for control_id, flag, key in (
        ("1.2.17", "--audit-log-maxage", "kubeharden_audit_log_maxage"),
        ("1.2.18", "--audit-log-maxbackup", "kubeharden_audit_log_maxbackup"),
        ("1.2.19", "--audit-log-maxsize", "kubeharden_audit_log_maxsize"),
    ):
        if not p.waived(control_id):
            p.at_least(control_id, flag, int(values[key]))
    if not pod.has_flag("--audit-policy-file") and pod.has_flag("--audit-log-path"):
        p.note("1.2.16: --audit-log-path without --audit-policy-file logs nothing (no policy means no events)")


# -- etcd --------------------------------------------------------------------------------------------------


def _etcd(p: _Planner) -> None:
    pod, version = p.pod, p.version
    etcd_pki = _etcd_pki_dir(pod)
    for control_id, flag, default in (
        ("2.1", "--cert-file", f"{etcd_pki}/server.crt"),
        ("2.1", "--key-file", f"{etcd_pki}/server.key"),
        ("2.4", "--peer-cert-file", f"{etcd_pki}/peer.crt"),
        ("2.4", "--peer-key-file", f"{etcd_pki}/peer.key"),
        ("2.7", "--trusted-ca-file", f"{etcd_pki}/ca.crt"),
        ("2.7", "--peer-trusted-ca-file", f"{etcd_pki}/ca.crt"),
    ):
        p.keep_path(control_id, flag, default, "etcd-certs")
    if not p.waived("2.2"):
        p.set("2.2", "--client-cert-auth", "true")
    if not p.waived("2.5"):
        p.set("2.5", "--peer-client-cert-auth", "true")
    for control_id, flag in (("2.3", "--auto-tls"), ("2.6", "--peer-auto-tls")):
        if p.waived(control_id):
            continue
        if (pod.get_flag(flag) or "").strip().lower() == "false":
            p.set(control_id, flag, "false")
        else:
            p.remove(control_id, flag, "self-signed certificates nobody verifies")
    if not p.waived("KH-ETCD-URLS"):
        for flag in (
            "--listen-client-urls",
            "--listen-peer-urls",
            "--advertise-client-urls",
            "--initial-advertise-peer-urls",
        ):
            plain = [url for url in _csv(pod.get_flag(flag)) if not url.lower().startswith("https://")]
            if plain:
                p.problem(
                    f"etcd: {flag} has {', '.join(plain)}, which is not https: kubeharden cannot switch it for you "
                    "(clients and peers must change too); serve https with the certificates in "
                    f"{etcd_pki} and change every member and kube-apiserver's --etcd-servers together"
                )
    if not p.waived("KH-ETCD-TLS"):
        if versions.flag_allowed(ETCD, version, "--tls-min-version"):
            p.tls_min_version("KH-ETCD-TLS")
        else:
            p.note(
                f"KH-ETCD-TLS: etcd {versions.format_version(version)} has no --tls-min-version (it arrived in "
                "3.4.25 and 3.5.8); it is left out, since an unknown flag stops etcd"
            )
    data_dir = pod.get_flag("--data-dir")
    if data_dir and data_dir.startswith("/") and not p.waived("1.1.11"):
        host = pod.host_path_for(data_dir) or data_dir
        p.plan.directories.append((host, 0o700))


# -- kube-controller-manager and kube-scheduler ------------------------------------------------------------


def _loopback(p: _Planner, control_id: str) -> None:
    p.set(control_id, "--bind-address", "127.0.0.1")
    p.align_probes(control_id, "127.0.0.1", None)


def _controller_manager(p: _Planner) -> None:
    pod, values = p.pod, p.values
    pki = _pki_dir(pod)
    if not p.waived("1.3.1"):
        p.set("1.3.1", "--terminated-pod-gc-threshold", str(int(values["kubeharden_terminated_pod_gc_threshold"])))
    if not p.waived("1.3.2"):
        p.set("1.3.2", "--profiling", "false")
    if not p.waived("1.3.3"):
        p.set("1.3.3", "--use-service-account-credentials", "true")
    p.keep_path("1.3.4", "--service-account-private-key-file", f"{pki}/sa.key", "k8s-certs")
    p.keep_path("1.3.5", "--root-ca-file", f"{pki}/ca.crt", "k8s-certs")
    if not p.waived("1.3.6"):
        gates = pod.get_flag("--feature-gates")
        if gates is not None:
            kept = [g for g in _csv(gates) if g.replace(" ", "") != "RotateKubeletServerCertificate=false"]
            if len(kept) != len(_csv(gates)):
                if kept:
                    p.set("1.3.6", "--feature-gates", ",".join(kept))
                else:
                    p.remove("1.3.6", "--feature-gates", "RotateKubeletServerCertificate must stay on")
    if not p.waived("1.3.7"):
        _loopback(p, "1.3.7")
    if not p.waived("KH-KCM-TLS"):
        p.tls_min_version("KH-KCM-TLS")
        p.cipher_suites("KH-KCM-TLS")


def _scheduler(p: _Planner) -> None:
    if not p.waived("1.4.1"):
        p.set("1.4.1", "--profiling", "false")
        if p.pod.has_flag("--config"):
            p.note(
                "1.4.1: kube-scheduler reads --config; there --profiling is ignored and the file's enableProfiling "
                "decides: set enableProfiling: false in it"
            )
    if not p.waived("1.4.2"):
        _loopback(p, "1.4.2")
    if not p.waived("KH-SCHED-TLS"):
        p.tls_min_version("KH-SCHED-TLS")
        p.cipher_suites("KH-SCHED-TLS")


_EXTRA_ARGS: Mapping[str, str] = {
    APISERVER: "kubeharden_apiserver_extra_args",
    CONTROLLER_MANAGER: "kubeharden_controller_manager_extra_args",
    SCHEDULER: "kubeharden_scheduler_extra_args",
    ETCD: "kubeharden_etcd_extra_args",
}


def _extra_args(p: _Planner) -> None:
    """The profile's extra flags for this component, applied last (lint and the version rules judge them like
    every other planned flag)."""
    extra = p.values.get(_EXTRA_ARGS[p.pod.component]) or {}
    if extra and p.waived("KH-EXTRA-ARGS"):
        return
    for flag, value in extra.items():
        try:
            p.set("KH-EXTRA-ARGS", str(flag), str(value))
        except ManifestError as error:
            for sentence in error.problems:
                p.problem(f"{p.pod.component}: {_EXTRA_ARGS[p.pod.component]}: {sentence}")


_RULES: Mapping[str, Callable[[_Planner], None]] = {
    APISERVER: _apiserver,
    ETCD: _etcd,
    CONTROLLER_MANAGER: _controller_manager,
    SCHEDULER: _scheduler,
}


# ----------------------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------------------


def _guess_component(manifest_path: str) -> str:
    stem = posixpath.basename(manifest_path).split(".", 1)[0]
    return stem if stem in COMPONENT_AREAS else stem or "unknown"


def _not_control_plane(component: str) -> str:
    return (
        f"not a control-plane component manifest: the pod's component is {component!r}, kubeharden hardens "
        f"{', '.join(COMPONENT_AREAS)}"
    )


def plan_component(
    manifest_text: str,
    profile: Mapping[str, Any],
    *,
    manifest_path: str,
    version_override: str | None = None,
    encryption_config: str | None = None,
) -> ComponentPlan:
    """Plan the hardening of one static pod manifest.

    ``profile`` has every key of kubeharden.profile.DEFAULTS. ``version_override`` replaces the version read
    from the image tag (for images without a version tag). ``encryption_config`` is the EncryptionConfiguration
    text the deploy decided for every control plane (kubeharden.encryption); None plans no encryption change.
    A manifest that cannot be read, or does not belong to one of the four control-plane components, gives a plan
    with ``problems`` and ``after == before``.
    """
    plan = ComponentPlan(
        component=_guess_component(manifest_path),
        manifest_path=manifest_path,
        version=None,
        before=manifest_text,
        after=manifest_text,
    )
    try:
        pod = load_manifest(manifest_text, source=manifest_path)
    except ManifestError as error:
        plan.problems.extend(error.problems)
        return plan
    plan.component = pod.component
    if pod.component not in COMPONENT_AREAS:
        plan.problems.append(_not_control_plane(pod.component))
        return plan
    area = COMPONENT_AREAS[pod.component]
    waivers = dict(profile["kubeharden_waivers"])
    if not profile[AREA_SWITCHES[area]] or area in waivers:
        reason = waivers.get(area) or f"{AREA_SWITCHES[area]} is false"
        plan.waived.append((area, str(reason)))
        return plan
    if version_override is not None:
        try:
            pod.version = versions.parse_version(version_override)
        except ValueError as error:
            plan.problems.append(str(error))
            return plan
    plan.version = pod.version
    if pod.version is None:
        plan.problems.append(
            f"{pod.component}: cannot read a version from the image {pod.image!r}; the planner needs it to know "
            "which flags exist: give the version explicitly (kubeharden render --version V)"
        )
        return plan
    original = copy.deepcopy(pod.document)
    planner = _Planner(pod, profile, pod.version, plan, encryption_config)
    _RULES[pod.component](planner)
    _extra_args(planner)
    _config_annotation(planner)
    if pod.document != original or plan.changes:
        plan.after = dump_manifest(pod)
    if plan.after == plan.before:
        plan.changes.clear()
    for problem in _check(pod):
        if problem not in plan.problems:
            plan.problems.append(problem)
    return plan


CONFIG_ANNOTATION = "kubeharden.io/config-sha256"


def _config_annotation(p: _Planner) -> None:
    """Record a hash of the component's kubeharden files in the manifest.

    The files are mounted as single files: a container keeps the inode it started with, so a changed file is
    seen only after a restart. Carrying the hash in the manifest makes a changed file change the manifest, and
    the kubelet (or the lab's runner) restarts the component through the same health gate as any other change.
    """
    digest = hashlib.sha256()
    for planned in sorted(p.plan.files, key=lambda f: f.path):
        digest.update(planned.path.encode() + b"\0" + planned.content.encode() + b"\0")
    metadata = p.pod.document.setdefault("metadata", {})
    annotations = metadata.get("annotations") or {}
    if not p.plan.files:
        if CONFIG_ANNOTATION in annotations:
            del annotations[CONFIG_ANNOTATION]
            p.change("KH-CONFIG", f"annotation {CONFIG_ANNOTATION} removed (no kubeharden files)")
        return
    value = digest.hexdigest()
    if annotations.get(CONFIG_ANNOTATION) != value:
        annotations[CONFIG_ANNOTATION] = value
        metadata["annotations"] = annotations
        p.change("KH-CONFIG", f"annotation {CONFIG_ANNOTATION} = {value[:12]}… (restart when a config file changes)")


def _check(pod: StaticPod) -> list[str]:
    """lint and the version rules over the planned pod (lint already includes check_flags when the version is
    known; both run so nothing depends on that detail)."""
    found = list(lint(pod))
    flags = pod.flags()
    if pod.component in versions.KUBE_COMPONENTS:
        flags = {name.replace("_", "-"): value for name, value in flags.items()}
    if pod.version is not None:
        for problem in versions.check_flags(pod.component, pod.version, flags):
            if problem not in found:
                found.append(problem)
    return found


def render_manifest(text: str, *, version: str | None = None, profile: Mapping[str, Any] | None = None) -> str:
    """The hardened manifest for ``text`` (what ``kubeharden render MANIFEST [--version V]`` prints).

    Uses the default profile when ``profile`` is None. Raises ManifestError with one sentence per problem when
    the input is not a control-plane static pod manifest or the hardened manifest would have a problem.
    """
    pod = load_manifest(text)
    if pod.component not in COMPONENT_AREAS:
        raise ManifestError([_not_control_plane(pod.component)])
    plan = plan_component(
        text,
        DEFAULTS if profile is None else profile,
        manifest_path=f"/etc/kubernetes/manifests/{pod.component}.yaml",
        version_override=version,
    )
    if plan.problems:
        raise ManifestError(plan.problems)
    return plan.after


# ----------------------------------------------------------------------------------------------------
# kubeadm's ClusterConfiguration
# ----------------------------------------------------------------------------------------------------

_SECTIONS: Mapping[str, tuple[str, ...]] = {
    APISERVER: ("apiServer",),
    CONTROLLER_MANAGER: ("controllerManager",),
    SCHEDULER: ("scheduler",),
    ETCD: ("etcd", "local"),
}
_MAP_STYLE = frozenset({"kubeadm.k8s.io/v1beta2", "kubeadm.k8s.io/v1beta3"})
_LIST_STYLE = frozenset({"kubeadm.k8s.io/v1beta4"})
# Per-node apiserver settings: kubeadm takes them from each node's localAPIEndpoint and points its probes there,
# so a cluster-wide extraArg would be wrong on the other nodes or break the probes.
_PER_NODE = frozenset({(APISERVER, "--secure-port"), (APISERVER, "--bind-address")})
# Flags a later Kubernetes no longer accepts: never written into extraArgs (an upgrade would carry them into a
# version that exits on them), only removed from there.
_NEVER_CARRIED = frozenset({"--insecure-port", "--port"})


def _section(config: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    node = config
    for key in path:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    return node


def _get_arg(section: dict[str, Any], name: str, list_style: bool) -> str | None:
    args = section.get("extraArgs")
    if list_style:
        values = [str(a.get("value", "")) for a in args or [] if isinstance(a, dict) and a.get("name") == name]
        return values[-1] if values else None
    if isinstance(args, dict) and name in args:
        return str(args[name])
    return None


def _set_arg(section: dict[str, Any], name: str, value: str | None, list_style: bool) -> bool:
    args = section.get("extraArgs")
    if list_style:
        entries = list(args) if isinstance(args, list) else []
        matching = [i for i, a in enumerate(entries) if isinstance(a, dict) and a.get("name") == name]
        if value is None:
            if not matching:
                return False
            entries = [a for i, a in enumerate(entries) if i not in matching]
        else:
            if len(matching) == 1 and str(entries[matching[0]].get("value")) == value:
                return False
            if matching:
                entries[matching[0]] = {"name": name, "value": value}
                entries = [a for i, a in enumerate(entries) if i not in matching[1:]]
            else:
                entries.append({"name": name, "value": value})
        if entries:
            section["extraArgs"] = entries
        else:
            section.pop("extraArgs", None)
        return True
    mapping = dict(args) if isinstance(args, dict) else {}
    if value is None:
        if name not in mapping:
            return False
        del mapping[name]
    else:
        if name in mapping and str(mapping[name]) == value and isinstance(mapping[name], str):
            return False
        mapping[name] = value
    if mapping:
        section["extraArgs"] = mapping
    else:
        section.pop("extraArgs", None)
    return True


def _set_volume(section: dict[str, Any], volume: PlannedVolume) -> bool:
    wanted = {
        "name": volume.name,
        "hostPath": volume.host_path,
        "mountPath": volume.mount_path,
        "readOnly": volume.read_only,
        "pathType": volume.path_type,
    }
    if not volume.path_type:
        del wanted["pathType"]
    entries = [e for e in section.get("extraVolumes") or [] if isinstance(e, dict)]
    for index, entry in enumerate(entries):
        same_name = entry.get("name") == volume.name
        same_mount = posixpath.normpath(str(entry.get("mountPath", ""))) == posixpath.normpath(volume.mount_path)
        if not (same_name or same_mount):
            continue
        comparable = {k: entry.get(k) for k in wanted}
        comparable["readOnly"] = bool(entry.get("readOnly", False))
        if comparable == wanted:
            return False
        entries[index] = wanted
        section["extraVolumes"] = entries
        return True
    entries.append(wanted)
    section["extraVolumes"] = entries
    return True


def plan_cluster_configuration(
    cluster_configuration_yaml: str, plans: Sequence[ComponentPlan]
) -> tuple[str, list[Change]]:
    """Carry the planned settings into kubeadm's ClusterConfiguration (the kubeadm-config ConfigMap's
    ``ClusterConfiguration`` key), so that ``kubeadm upgrade`` regenerates the manifests with them.

    Handles v1beta2/v1beta3 (extraArgs as a map) and v1beta4 (extraArgs as a list of {name, value}). Flags go to
    apiServer / controllerManager / scheduler ``extraArgs`` and etcd.local.extraArgs (flags the plan removed
    are removed there too), the planner's hostPath volumes to ``extraVolumes``. Left out: kube-apiserver's
    ``--bind-address`` and ``--secure-port`` (per node: kubeadm takes them from each node's localAPIEndpoint and
    points the probes there) and ``--insecure-port=0`` (1.24+ refuses the flag, so carrying it into an upgrade
    would stop the apiserver).
    Returns the input unchanged when nothing changes, so applying it to its own output changes nothing.
    """
    try:
        config = yaml.safe_load(cluster_configuration_yaml)
    except yaml.YAMLError as error:
        raise ValueError(f"the ClusterConfiguration is not valid YAML: {error}") from error
    if not isinstance(config, dict) or config.get("kind") != "ClusterConfiguration":
        found = config.get("kind") if isinstance(config, dict) else type(config).__name__
        raise ValueError(f"not a kubeadm ClusterConfiguration: kind is {found!r}, expected ClusterConfiguration")
    api_version = str(config.get("apiVersion"))
    if api_version not in _MAP_STYLE | _LIST_STYLE:
        raise ValueError(
            f"ClusterConfiguration apiVersion {api_version!r} is not one kubeharden knows "
            "(kubeadm.k8s.io/v1beta2, v1beta3 or v1beta4): migrate it with `kubeadm config migrate`"
        )
    list_style = api_version in _LIST_STYLE
    changes: list[Change] = []
    for plan in plans:
        if plan.component not in _SECTIONS or plan.problems:
            continue
        path = _SECTIONS[plan.component]
        if plan.component == ETCD and isinstance(config.get("etcd"), dict) and "external" in config["etcd"]:
            continue  # external etcd: kubeadm does not run it
        section = _section(config, path)
        where = ".".join(path)
        settings = list(plan.settings)
        if plan.component == CONTROLLER_MANAGER and "1.3.6" not in dict(plan.waived):
            gates = _get_arg(section, "feature-gates", list_style)
            if gates is not None:
                kept = [g for g in _csv(gates) if g.replace(" ", "") != "RotateKubeletServerCertificate=false"]
                if len(kept) != len(_csv(gates)):
                    settings.append(Setting("1.3.6", "--feature-gates", ",".join(kept) or None))
        for setting in settings:
            if (plan.component, setting.flag) in _PER_NODE:
                continue
            if setting.flag in _NEVER_CARRIED and setting.value is not None:
                continue
            name = setting.flag.lstrip("-")
            old = _get_arg(section, name, list_style)
            if _set_arg(section, name, setting.value, list_style):
                new = "removed" if setting.value is None else setting.value
                changes.append(Change(setting.control_id, f"{where}.extraArgs {name}: {_shown(old)} -> {new}"))
        if plan.component != ETCD:
            for volume in plan.volumes:
                if _set_volume(section, volume):
                    changes.append(
                        Change(
                            volume.control_id,
                            f"{where}.extraVolumes {volume.name}: {volume.host_path} at {volume.mount_path}",
                        )
                    )
    if not changes:
        return cluster_configuration_yaml, []
    text = yaml.safe_dump(config, default_flow_style=False, sort_keys=True, allow_unicode=True, width=1 << 30)
    return text, changes
