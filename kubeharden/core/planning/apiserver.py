"""Planners of the kube-apiserver controls that need files or version decisions, registered by control ID.

- KH-API-BIND: bind address and secure port from the profile; the kubelet's probes and kubeadm's endpoint
  annotation follow.
- 1.2.1: anonymous requests (versions.anonymous_auth_strategy). On 1.34+ an AuthenticationConfiguration allows
  anonymous only on /livez, /readyz and /healthz and ``--anonymous-auth`` goes (the two cannot be combined); older
  versions keep anonymous auth on because kubeadm's probes need it, and RBAC must restrict it (a note says so).
- 1.2.9 / KH-API-PSA: the AdmissionConfiguration (EventRateLimit limits, PodSecurity defaults per version).
- 3.2.1 / 1.2.16: the audit policy and the audit log directory.
- 1.2.27 / 1.2.28: the EncryptionConfiguration the run decided (kubeharden.core.encryption), never invented here.

Files kubeharden writes are its own: an ``--admission-control-config-file`` or ``--authentication-config`` that
already names another file is a problem (kubeharden cannot merge a file it cannot read). Pure logic.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping

from kubeharden.core import values, versions
from kubeharden.core.catalog import by_id
from kubeharden.core.catalog.model import Control, FlagTest, Param, resolve
from kubeharden.core.planning.editor import PodEditor
from kubeharden.core.planning.generic import apply_flag_test
from kubeharden.core.planning.registry import planner
from kubeharden.core.templates import ADMISSION_CONFIG, AUDIT_POLICY, AUTHENTICATION_CONFIG, render_template
from kubeharden.core.versions import AnonymousAuthStrategy

_UNSPECIFIED = frozenset({"0.0.0.0", "::"})  # noqa: S104 -- values recognised, not a bind
ENDPOINT_ANNOTATION = "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"


def _test(control: Control, flag: str, index: int = 0) -> FlagTest:
    return [t for t in control.flag_tests if t.flag == flag][index]


def _path(ed: PodEditor, test: FlagTest) -> str:
    """The path a SET test's default names (a profile key)."""
    value = resolve(test.default, ed.values)
    if not (isinstance(value, str)):
        raise AssertionError(f"{test.flag}: the catalog names no path")  # an invariant, kept under python -O
    return posixpath.normpath(value)


def _foreign(ed: PodEditor, flag: str, path: str, control_ids: str, what: str) -> bool:
    """A flag kubeharden would set that already names a file kubeharden does not manage: a problem."""
    existing = ed.pod.get_flag(flag)
    if existing and posixpath.normpath(existing) != path:
        ed.problem(
            f"kube-apiserver: {flag} already names {existing}, a file kubeharden does not manage and cannot merge: "
            f"{what} and point the profile at {existing}, or waive {control_ids}"
        )
        return True
    return False


@planner("KH-API-BIND")
def bind_address(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    control = controls["KH-API-BIND"]
    bind = resolve(_test(control, "--bind-address").value, ed.values)
    port_text = resolve(_test(control, "--secure-port", 1).value, ed.values)
    probe_host: str | None = None
    if isinstance(bind, str):
        ed.set(control.id, "--bind-address", bind)
        if bind not in _UNSPECIFIED:
            probe_host = bind
    probe_port: int | None = None
    if isinstance(port_text, str):
        old_port = ed.pod.get_flag("--secure-port") or "6443"
        ed.set(control.id, "--secure-port", port_text)
        probe_port = int(port_text)
        _endpoint_annotation(ed, control.id, old_port, port_text)
    if probe_host is not None or probe_port is not None:
        ed.align_probes(control.id, probe_host, probe_port)


def _endpoint_annotation(ed: PodEditor, control_id: str, old_port: str, new_port: str) -> None:
    """kubeadm records the apiserver endpoint (ADDRESS:PORT) in an annotation it reads back on upgrade."""
    metadata = ed.pod.document.get("metadata") or {}
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    if not isinstance(annotations, dict) or not isinstance(annotations.get(ENDPOINT_ANNOTATION), str):
        return
    address, colon, port = annotations[ENDPOINT_ANNOTATION].rpartition(":")
    if colon and port == old_port and old_port != new_port:
        annotations[ENDPOINT_ANNOTATION] = f"{address}:{new_port}"
        ed.change(control_id, f"annotation {ENDPOINT_ANNOTATION}: {address}:{old_port} -> {address}:{new_port}")


@planner("1.2.1")
def anonymous(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    shown = versions.format_version(ed.version)
    if versions.anonymous_auth_strategy(ed.version) is AnonymousAuthStrategy.RBAC_HEALTH_ONLY:
        if values.go_bool(ed.pod.get_flag("--anonymous-auth")) is False:
            ed.note(
                f"1.2.1: kube-apiserver {shown} has --anonymous-auth=false; kept as it is (make sure the liveness, "
                "readiness and startup probes do not need anonymous access)"
            )
        else:
            ed.note(
                f"1.2.1: kube-apiserver {shown} keeps anonymous auth on: kubeadm's probes call /livez and /readyz "
                "without credentials and --anonymous-auth=false would make the kubelet restart it forever; RBAC "
                "must grant system:unauthenticated nothing beyond the health and version endpoints (checked by the "
                "verification). From 1.34 kubeharden uses an AuthenticationConfiguration instead"
            )
        return
    path = posixpath.normpath(str(ed.values["kubeharden_authentication_config_file"]))
    what = "add anonymous {enabled: true, conditions: /livez, /readyz, /healthz} to it"
    if _foreign(ed, "--authentication-config", path, "control 1.2.1", what):
        return
    oidc = sorted({name for name, _ in ed.pod.flag_items() if name.startswith("--oidc-")})
    if oidc:
        ed.problem(
            f"kube-apiserver: {', '.join(oidc)} cannot be combined with --authentication-config: move the OIDC "
            "settings into a jwt authenticator of an AuthenticationConfiguration, or waive control 1.2.1"
        )
        return
    content = render_template(
        AUTHENTICATION_CONFIG,
        api_version="apiserver.config.k8s.io/v1",
        anonymous_paths=list(versions.ANONYMOUS_HEALTH_PATHS),
    )
    if ed.write_file("1.2.1", path, content, "kubeharden-authn"):
        ed.remove(
            "1.2.1", "--anonymous-auth", "cannot be combined with an anonymous section in --authentication-config"
        )
        ed.set("1.2.1", "--authentication-config", path)
        ed.note(
            "1.2.1: anonymous requests now reach only /livez, /readyz and /healthz (everything else, /version "
            "included, gets 401); `kubeadm join` with token discovery reads the cluster-info ConfigMap anonymously "
            "and fails: join new nodes with file discovery (--discovery-file) or a kubeconfig"
        )


def _pod_security(ed: PodEditor) -> dict[str, object]:
    return {
        "api_version": versions.admission_config_api_version(ed.version),
        "enforce": ed.values["kubeharden_pod_security_enforce"],
        "audit": ed.values["kubeharden_pod_security_audit"],
        "warn": ed.values["kubeharden_pod_security_warn"],
        "exempt_namespaces": list(dict.fromkeys(ed.values["kubeharden_pod_security_exempt_namespaces"])),
    }


def _admission_plugins(ed: PodEditor, controls: Mapping[str, Control], psa: bool) -> None:
    """The plugin lists: EventRateLimit in (1.2.9), plugins this version no longer has out, PodSecurity not
    disabled (KH-API-PSA)."""
    removed = versions.removed_admission_plugins(ed.version)
    enabled = values.items(ed.pod.get_flag("--enable-admission-plugins"))
    if psa and removed & set(enabled):
        ed.set("KH-API-PSA", "--enable-admission-plugins", values.join([x for x in enabled if x not in removed]))
    if "1.2.9" in controls:
        apply_flag_test(ed, controls["1.2.9"], _test(controls["1.2.9"], "--enable-admission-plugins"))
    disabled = values.items(ed.pod.get_flag("--disable-admission-plugins"))
    if psa and "PodSecurity" in disabled:
        kept = [x for x in disabled if x != "PodSecurity"]
        if kept:
            ed.set("KH-API-PSA", "--disable-admission-plugins", values.join(kept))
        else:
            ed.remove("KH-API-PSA", "--disable-admission-plugins", "PodSecurity must stay enabled")
    if ed.pod.has_flag("--admission-control"):
        ed.problem(
            "kube-apiserver: the deprecated --admission-control cannot be combined with --enable-admission-plugins: "
            "move its plugins into --enable-admission-plugins and remove --admission-control"
        )


@planner("1.2.9", "KH-API-PSA")
def admission(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    shown = versions.format_version(ed.version)
    psa = "KH-API-PSA" in controls and ed.version >= (1, 22, 0)
    if "KH-API-PSA" in controls and ed.version < (1, 22, 0):
        ed.note(
            f"KH-API-PSA: kube-apiserver {shown} has no Pod Security Admission (1.22 alpha, 1.23 beta, 1.25 "
            "stable); upgrade the cluster to get it"
        )
        ed.defer("KH-API-PSA")
    elif psa and ed.version < (1, 23, 0):
        ed.note(
            f"KH-API-PSA: Pod Security Admission is alpha in kube-apiserver {shown} and enforces only with the "
            "PodSecurity feature gate, which kubeharden does not set"
        )
    _admission_plugins(ed, controls, psa)
    event_rate_limit = "1.2.9" in controls
    if not (psa or event_rate_limit):
        return
    config_test = _test(by_id()["1.2.9"], "--admission-control-config-file")
    path = _path(ed, config_test)
    what = "add the PodSecurity and EventRateLimit configurations to it"
    if _foreign(ed, "--admission-control-config-file", path, "controls 1.2.9 and KH-API-PSA", what):
        return
    limits = None
    if event_rate_limit:
        limits = {
            "qps": ed.values["kubeharden_event_rate_limit_qps"],
            "burst": ed.values["kubeharden_event_rate_limit_burst"],
        }
    content = render_template(
        ADMISSION_CONFIG, pod_security=_pod_security(ed) if psa else None, event_rate_limit=limits
    )
    control_id = "1.2.9" if event_rate_limit else "KH-API-PSA"
    if ed.write_file(control_id, path, content, "kubeharden-admission"):
        ed.set(control_id, config_test.flag, path)


@planner("3.2.1", "1.2.16")
def audit(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    if "3.2.1" in controls:
        policy_test = _test(controls["3.2.1"], "--audit-policy-file")
        policy = _path(ed, policy_test)
        if ed.write_file("3.2.1", policy, render_template(AUDIT_POLICY), "kubeharden-audit-policy"):
            ed.set("3.2.1", policy_test.flag, policy)
    if "1.2.16" in controls:
        log_test = _test(controls["1.2.16"], "--audit-log-path")
        log_path = _path(ed, log_test)
        directory = posixpath.dirname(log_path)
        if directory not in dict(ed.plan.directories):
            ed.plan.directories.append((directory, 0o700))
        if ed.ensure_visible("1.2.16", directory, "kubeharden-audit-log", kind="dir"):
            ed.set("1.2.16", log_test.flag, log_path)
    if not ed.pod.has_flag("--audit-policy-file") and ed.pod.has_flag("--audit-log-path"):
        ed.note("1.2.16: --audit-log-path without --audit-policy-file logs nothing (no policy means no events)")


@planner("1.2.27", "1.2.28")
def encryption(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    """The EncryptionConfiguration the run decided for every control plane (its key read back from the hosts or
    generated once), written mode 600 and mounted read-only. Without one (``render``) nothing is planned."""
    text = ed.context.get("encryption_config")
    if not isinstance(text, str):
        ed.note(
            "1.2.27: the EncryptionConfiguration holds a key only the control planes have: `kubeharden harden` "
            "plans it from the hosts, this plan leaves --encryption-provider-config as it is"
        )
        for control_id in controls:
            ed.defer(control_id)
        return
    flag_test = _test(by_id()["1.2.27"], "--encryption-provider-config")
    path = _path(ed, flag_test)
    if ed.write_file("1.2.27", path, text, "kubeharden-encryption", secret=True):
        ed.set("1.2.27", flag_test.flag, path)
    endpoint = str(ed.values.get("kubeharden_encryption_kms_endpoint") or "")
    if ed.values.get("kubeharden_encryption_provider") == "kms" and endpoint.startswith("unix:///"):
        ed.ensure_visible("1.2.28", posixpath.dirname(endpoint[len("unix://") :]), "kubeharden-kms", kind="dir")


__all__ = ["Param", "admission", "anonymous", "audit", "bind_address", "encryption"]
