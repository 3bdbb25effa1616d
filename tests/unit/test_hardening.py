"""The hardening planner against every real kubeadm manifest in tests/data/kubeadm (see its SOURCES.md) and the
lab's kubeadm 1.34.4 output: the planned manifest is a valid Pod that lints clean, carries every flag the
control catalog expects, respects the version rules and waivers, and planning it again changes nothing.

Plans are judged with the real judge (kubeharden.core.judge), the one verify uses: planner and judge are tested
against each other (tests/unit/test_plan_judge.py does it for random profiles and weakened inputs too).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeharden.core import versions
from kubeharden.core.catalog import CONTROLS, STRONG_CIPHER_SUITES, Control
from kubeharden.core.catalog.model import FlagTest
from kubeharden.core.judge import evaluate_control
from kubeharden.core.lint import lint
from kubeharden.core.manifests import ManifestError, StaticPod, dump_manifest, load_manifest
from kubeharden.core.planning import (
    COMPONENT_AREAS,
    ComponentPlan,
    plan_cluster_configuration,
    plan_component,
    render_manifest,
    render_template,
)
from kubeharden.core.planning.check import planned_state
from kubeharden.core.profile import DEFAULTS
from kubeharden.core.results import Status
from kubeharden.core.templates import ADMISSION_CONFIG as ADMISSION_CONFIG_TEMPLATE
from kubeharden.core.templates import AUDIT_POLICY as AUDIT_POLICY_TEMPLATE
from kubeharden.core.templates import AUTHENTICATION_CONFIG as AUTHENTICATION_CONFIG_TEMPLATE

DATA = Path(__file__).resolve().parents[1] / "data" / "kubeadm"
ALL_FILES = sorted(p for p in DATA.glob("*/*") if p.suffix in (".yaml", ".conf"))
LAB = "1.34.4-lab"


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def _is_pod(path: Path) -> bool:
    document = yaml.safe_load(path.read_text())
    return isinstance(document, dict) and document.get("kind") == "Pod"


POD_FILES = [_name(p) for p in ALL_FILES if _is_pod(p)]
INVALID = "1.21.0-hardened-encryption/kube-apiserver.yaml"
PODS = [name for name in POD_FILES if name != INVALID]

# Fixtures whose INPUT already has a problem the planner must not hide: the plan carries it (so the deploy stops)
# and render refuses with it. The planner adds none of its own (checked for every fixture).
REFUSED = {
    "1.17.0-hardened-kms-outofrange/kube-apiserver.yaml": "kube-apiserver 1.17.0 is outside the Kubernetes",
    "1.20.11/kube-apiserver.yaml": "--service-account-issuer is given 2 times with different values",
    "1.21.1-kind-mirrorpod/etcd.yaml": "this is a pod exported from the API",
    "1.21.1-kind-mirrorpod/kube-apiserver.yaml": "this is a pod exported from the API",
    "1.21.1-kind-mirrorpod/kube-controller-manager.yaml": "this is a pod exported from the API",
    "1.21.1-kind-mirrorpod/kube-scheduler.yaml": "this is a pod exported from the API",
}
RENDERABLE = [name for name in PODS if name not in REFUSED]


def _profile(**overrides: Any) -> dict[str, Any]:
    profile = dict(DEFAULTS)
    profile.update(overrides)
    return profile


def _plan(name_or_text: str, profile: Mapping[str, Any] | None = None, **kwargs: Any) -> ComponentPlan:
    text = _read(name_or_text) if name_or_text.endswith(".yaml") and "\n" not in name_or_text else name_or_text
    component = load_manifest(text).component
    return plan_component(
        text,
        DEFAULTS if profile is None else profile,
        manifest_path=f"/etc/kubernetes/manifests/{component}.yaml",
        **kwargs,
    )


def _pod(text: str) -> StaticPod:
    return load_manifest(text)


def _edited(name: str, edit: Any) -> str:
    """A fixture with a structural edit applied (edit gets the StaticPod)."""
    pod = load_manifest(_read(name))
    edit(pod)
    return dump_manifest(pod)


# ----------------------------------------------------------------------------------------------------
# The real judge over a planned manifest
# ----------------------------------------------------------------------------------------------------


def _flag_controls(component: str) -> list[Control]:
    """Controls judged from a manifest's flags alone that harden applies; the encryption area needs the key the
    deploy reads from the hosts (tests/unit/test_encryption.py plans it with an EncryptionConfiguration)."""
    return [
        c
        for c in CONTROLS
        if c.component == component
        and c.area != "encryption"
        and c.applied_by in ("tests", "planner")
        and any(isinstance(t, FlagTest) for t in c.tests)
    ]


def _failed_flag_controls(
    pod: StaticPod, skip: AbstractSet[str] = frozenset(), profile: Mapping[str, Any] | None = None
) -> list[str]:
    """Controls of the pod's component the real judge FAILs on this manifest (alone, no supporting files)."""
    state = planned_state(pod, [], f"/etc/kubernetes/manifests/{pod.component}.yaml")
    values = DEFAULTS if profile is None else profile
    failed = []
    for control in _flag_controls(pod.component):
        if control.id in skip or any(not isinstance(t, FlagTest) for t in control.tests):
            continue
        if control.when is not None and not control.when.holds(values):
            continue  # the profile does not ask for it (judged WARN)
        status, observed, notes = evaluate_control(state, control, values)
        if status is Status.FAIL:
            failed.append(f"{control.id}: {observed} {notes}")
    return failed


def _csv(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


# Controls the default profile deliberately does not meet: 1.2.5 needs kubelet serving certificates signed by the
# cluster CA (kubeharden_kubelet_serving_certs_signed, off by default).
DEFAULT_PROFILE_SKIPS = {"1.2.5"}


# ----------------------------------------------------------------------------------------------------
# Every fixture
# ----------------------------------------------------------------------------------------------------


def test_fixture_classification() -> None:
    assert INVALID in POD_FILES
    assert set(REFUSED) <= set(PODS)
    assert {f"{LAB}/{c}.yaml" for c in COMPONENT_AREAS} <= set(RENDERABLE)
    # config files in the fixtures are skipped here, the invalid pod is not
    assert "1.20.5-kubelet/config.yaml" not in POD_FILES


def test_invalid_manifest_gives_a_clear_error() -> None:
    with pytest.raises(ManifestError) as raised:
        render_manifest(_read(INVALID))
    assert any("has no name, so the kubelet rejects the pod" in p for p in raised.value.problems)
    plan = _plan_text_only(_read(INVALID), "kube-apiserver")
    assert plan.problems and plan.after == plan.before and not plan.changes


def _plan_text_only(text: str, component: str) -> ComponentPlan:
    return plan_component(text, DEFAULTS, manifest_path=f"/etc/kubernetes/manifests/{component}.yaml")


@pytest.mark.parametrize(
    "name", ["1.20.5-kubelet/config.yaml", "1.28.1-hardened-audit/etc.kubernetes.audit.policy.yaml"]
)
def test_render_refuses_files_that_are_not_pods(name: str) -> None:
    with pytest.raises(ManifestError, match="not a static pod manifest: kind is"):
        render_manifest(_read(name))


def test_render_refuses_other_components() -> None:
    text = _edited(
        "1.29.0/kube-scheduler.yaml", lambda pod: pod.document["metadata"]["labels"].update(component="coredns")
    )
    with pytest.raises(ManifestError, match=r"not a control-plane component manifest: .*coredns"):
        render_manifest(text)
    plan = _plan_text_only(text, "coredns")
    assert any("not a control-plane component manifest" in p for p in plan.problems)


@pytest.mark.parametrize("name", PODS)
def test_planner_adds_no_problem_of_its_own(name: str) -> None:
    before = lint(load_manifest(_read(name)))
    plan = _plan(name)
    assert set(plan.problems) <= set(before), [p for p in plan.problems if p not in before]
    if name in REFUSED:
        assert any(REFUSED[name] in p for p in plan.problems)
        with pytest.raises(ManifestError, match=REFUSED[name].replace(".", r"\.")):
            render_manifest(_read(name))


@pytest.mark.parametrize("name", RENDERABLE)
def test_render_is_a_valid_hardened_pod(name: str) -> None:
    rendered = render_manifest(_read(name))
    pod = load_manifest(rendered)
    assert pod.component == load_manifest(_read(name)).component
    assert lint(pod) == []
    assert pod.version is not None
    assert not versions.removed_flags(pod.component, pod.version) & set(pod.flags())
    # a mount for every file flag (lint checks it; said again here for the files kubeharden adds)
    for flag in ("--audit-policy-file", "--admission-control-config-file", "--authentication-config"):
        value = pod.get_flag(flag)
        if value is not None:
            assert pod.host_path_for(value) == value
    assert render_manifest(rendered) == rendered


@pytest.mark.parametrize("name", PODS)
def test_every_catalog_flag_test_passes_after_planning(name: str) -> None:
    plan = _plan(name)
    pod = load_manifest(plan.after)
    assert _failed_flag_controls(pod, DEFAULT_PROFILE_SKIPS) == []


@pytest.mark.parametrize("name", PODS)
def test_planning_is_idempotent(name: str) -> None:
    first = _plan(name)
    second = _plan(first.after)
    assert second.after == first.after
    assert not second.changed and second.changes == []
    assert second.files == first.files
    assert second.directories == first.directories
    assert second.settings == first.settings


@pytest.mark.parametrize("name", PODS)
def test_every_change_names_a_control(name: str) -> None:
    plan = _plan(name)
    assert plan.changed == bool(plan.changes)
    known = {c.id for c in CONTROLS}
    for change in plan.changes:
        assert change.control_id in known or change.origin, change
        assert change.description


@pytest.mark.parametrize("name", RENDERABLE)
def test_supporting_files_parse_and_are_private(name: str) -> None:
    plan = _plan(name)
    after = load_manifest(plan.after)
    for planned in plan.files:
        assert planned.mode == 0o600 and planned.owner == "root:root"
        assert isinstance(yaml.safe_load(planned.content), dict)
        found = after.volume_for_path(planned.path)
        assert found is not None and found[1].read_only
    for directory, mode in plan.directories:
        assert mode == 0o700 and directory.startswith("/")


# ----------------------------------------------------------------------------------------------------
# The lab's kubeadm 1.34.4 manifests: the full hardened flag set
# ----------------------------------------------------------------------------------------------------

CIPHERS = ",".join(STRONG_CIPHER_SUITES)

LAB_APISERVER = {
    "--admission-control-config-file": "/etc/kubernetes/admission/admission-config.yaml",
    "--advertise-address": "10.77.0.11",
    "--allow-privileged": "true",
    "--audit-log-maxage": "30",
    "--audit-log-maxbackup": "10",
    "--audit-log-maxsize": "100",
    "--audit-log-path": "/var/log/kubernetes/audit/audit.log",
    "--audit-policy-file": "/etc/kubernetes/audit/policy.yaml",
    "--authentication-config": "/etc/kubernetes/authn/authentication-config.yaml",
    "--authorization-mode": "Node,RBAC",
    "--client-ca-file": "/etc/kubernetes/pki/ca.crt",
    "--enable-admission-plugins": "NodeRestriction,EventRateLimit",
    "--enable-bootstrap-token-auth": "true",
    "--etcd-cafile": "/etc/kubernetes/pki/etcd/ca.crt",
    "--etcd-certfile": "/etc/kubernetes/pki/apiserver-etcd-client.crt",
    "--etcd-keyfile": "/etc/kubernetes/pki/apiserver-etcd-client.key",
    "--etcd-servers": "https://127.0.0.1:2379",
    "--kubelet-client-certificate": "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
    "--kubelet-client-key": "/etc/kubernetes/pki/apiserver-kubelet-client.key",
    "--kubelet-preferred-address-types": "InternalIP,ExternalIP,Hostname",
    "--profiling": "false",
    "--proxy-client-cert-file": "/etc/kubernetes/pki/front-proxy-client.crt",
    "--proxy-client-key-file": "/etc/kubernetes/pki/front-proxy-client.key",
    "--requestheader-allowed-names": "front-proxy-client",
    "--requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
    "--requestheader-extra-headers-prefix": "X-Remote-Extra-",
    "--requestheader-group-headers": "X-Remote-Group",
    "--requestheader-username-headers": "X-Remote-User",
    "--secure-port": "6443",
    "--service-account-extend-token-expiration": "false",
    "--service-account-issuer": "https://kubernetes.default.svc.cluster.local",
    "--service-account-key-file": "/etc/kubernetes/pki/sa.pub",
    "--service-account-lookup": "true",
    "--service-account-signing-key-file": "/etc/kubernetes/pki/sa.key",
    "--service-cluster-ip-range": "10.96.0.0/12",
    "--tls-cert-file": "/etc/kubernetes/pki/apiserver.crt",
    "--tls-cipher-suites": CIPHERS,
    "--tls-min-version": "VersionTLS12",
    "--tls-private-key-file": "/etc/kubernetes/pki/apiserver.key",
}

LAB_CONTROLLER_MANAGER = {
    "--allocate-node-cidrs": "true",
    "--authentication-kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "--authorization-kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "--bind-address": "127.0.0.1",
    "--client-ca-file": "/etc/kubernetes/pki/ca.crt",
    "--cluster-cidr": "10.244.0.0/16",
    "--cluster-name": "kubeharden-lab",
    "--cluster-signing-cert-file": "/etc/kubernetes/pki/ca.crt",
    "--cluster-signing-key-file": "/etc/kubernetes/pki/ca.key",
    "--controllers": "*,bootstrapsigner,tokencleaner",
    "--kubeconfig": "/etc/kubernetes/controller-manager.conf",
    "--leader-elect": "true",
    "--profiling": "false",
    "--requestheader-client-ca-file": "/etc/kubernetes/pki/front-proxy-ca.crt",
    "--root-ca-file": "/etc/kubernetes/pki/ca.crt",
    "--service-account-private-key-file": "/etc/kubernetes/pki/sa.key",
    "--service-cluster-ip-range": "10.96.0.0/12",
    "--terminated-pod-gc-threshold": "10",
    "--tls-cipher-suites": CIPHERS,
    "--tls-min-version": "VersionTLS12",
    "--use-service-account-credentials": "true",
}

LAB_SCHEDULER = {
    "--authentication-kubeconfig": "/etc/kubernetes/scheduler.conf",
    "--authorization-kubeconfig": "/etc/kubernetes/scheduler.conf",
    "--bind-address": "127.0.0.1",
    "--kubeconfig": "/etc/kubernetes/scheduler.conf",
    "--leader-elect": "true",
    "--profiling": "false",
    "--tls-cipher-suites": CIPHERS,
    "--tls-min-version": "VersionTLS12",
}

LAB_ETCD = {
    "--advertise-client-urls": "https://10.77.0.11:2379",
    "--cert-file": "/etc/kubernetes/pki/etcd/server.crt",
    "--client-cert-auth": "true",
    "--data-dir": "/var/lib/etcd",
    "--feature-gates": "InitialCorruptCheck=true",
    "--initial-advertise-peer-urls": "https://10.77.0.11:2380",
    "--initial-cluster": "cp1=https://10.77.0.11:2380",
    "--key-file": "/etc/kubernetes/pki/etcd/server.key",
    "--listen-client-urls": "https://127.0.0.1:2379,https://10.77.0.11:2379",
    "--listen-metrics-urls": "http://127.0.0.1:2381",
    "--listen-peer-urls": "https://10.77.0.11:2380",
    "--name": "cp1",
    "--peer-cert-file": "/etc/kubernetes/pki/etcd/peer.crt",
    "--peer-client-cert-auth": "true",
    "--peer-key-file": "/etc/kubernetes/pki/etcd/peer.key",
    "--peer-trusted-ca-file": "/etc/kubernetes/pki/etcd/ca.crt",
    "--snapshot-count": "10000",
    "--tls-min-version": "TLS1.2",
    "--trusted-ca-file": "/etc/kubernetes/pki/etcd/ca.crt",
    "--watch-progress-notify-interval": "5s",
}


@pytest.mark.parametrize(
    ("component", "expected"),
    [
        ("kube-apiserver", LAB_APISERVER),
        ("kube-controller-manager", LAB_CONTROLLER_MANAGER),
        ("kube-scheduler", LAB_SCHEDULER),
        ("etcd", LAB_ETCD),
    ],
)
def test_lab_manifests_get_the_full_hardened_flag_set(component: str, expected: dict[str, str]) -> None:
    plan = _plan(f"{LAB}/{component}.yaml")
    assert plan.problems == []
    pod = load_manifest(plan.after)
    assert pod.flags() == expected
    assert sorted(pod.flags()) == [name for name, _ in pod.flag_items()]  # kubeadm's alphabetical order kept
    assert pod.canonical_source


def test_lab_apiserver_files_mounts_and_paths() -> None:
    plan = _plan(f"{LAB}/kube-apiserver.yaml")
    pod = load_manifest(plan.after)
    volumes = {v.name: v for v in pod.host_path_volumes()}
    mounts = {m.name: m for m in pod.volume_mounts()}
    for name, path in (
        ("kubeharden-audit-policy", "/etc/kubernetes/audit/policy.yaml"),
        ("kubeharden-admission", "/etc/kubernetes/admission/admission-config.yaml"),
        ("kubeharden-authn", "/etc/kubernetes/authn/authentication-config.yaml"),
    ):
        assert (volumes[name].path, volumes[name].type) == (path, "File")
        assert (mounts[name].mount_path, mounts[name].read_only) == (path, True)
    log = "/var/log/kubernetes/audit"
    assert (volumes["kubeharden-audit-log"].path, volumes["kubeharden-audit-log"].type) == (log, "DirectoryOrCreate")
    assert (mounts["kubeharden-audit-log"].mount_path, mounts["kubeharden-audit-log"].read_only) == (log, False)
    assert [f.path for f in plan.files] == [
        "/etc/kubernetes/authn/authentication-config.yaml",
        "/etc/kubernetes/admission/admission-config.yaml",
        "/etc/kubernetes/audit/policy.yaml",
    ]
    assert (log, 0o700) in plan.directories
    assert "/etc/kubernetes" not in dict(plan.directories)  # shared directories keep their modes
    assert plan.required_paths == [
        "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
        "/etc/kubernetes/pki/apiserver-kubelet-client.key",
        "/etc/kubernetes/pki/sa.pub",
        "/etc/kubernetes/pki/apiserver-etcd-client.crt",
        "/etc/kubernetes/pki/apiserver-etcd-client.key",
        "/etc/kubernetes/pki/apiserver.crt",
        "/etc/kubernetes/pki/apiserver.key",
        "/etc/kubernetes/pki/ca.crt",
        "/etc/kubernetes/pki/etcd/ca.crt",
    ]
    # probes are untouched (anonymous stays allowed on /livez and /readyz through the AuthenticationConfiguration)
    before = load_manifest(plan.before)
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert pod.container[probe] == before.container[probe]


def test_lab_etcd_data_dir_and_required_certs() -> None:
    plan = _plan(f"{LAB}/etcd.yaml")
    assert plan.directories == []  # 1.1.11's mode is a file control of the run plan (test_runplan.py)
    assert plan.files == []
    assert plan.required_paths == [
        "/etc/kubernetes/pki/etcd/server.crt",
        "/etc/kubernetes/pki/etcd/server.key",
        "/etc/kubernetes/pki/etcd/peer.crt",
        "/etc/kubernetes/pki/etcd/peer.key",
        "/etc/kubernetes/pki/etcd/ca.crt",
    ]
    assert [c.control_id for c in plan.changes] == ["KH-ETCD-TLS"]


# ----------------------------------------------------------------------------------------------------
# The supporting files (field names checked against the v0.34.4 Go types)
# ----------------------------------------------------------------------------------------------------


def test_authentication_configuration_allows_anonymous_only_on_health_paths() -> None:
    plan = _plan(f"{LAB}/kube-apiserver.yaml")
    (authn,) = [f for f in plan.files if f.path.endswith("authentication-config.yaml")]
    document = yaml.safe_load(authn.content)
    assert document == {
        "apiVersion": "apiserver.config.k8s.io/v1",
        "kind": "AuthenticationConfiguration",
        "anonymous": {"enabled": True, "conditions": [{"path": "/livez"}, {"path": "/readyz"}, {"path": "/healthz"}]},
    }


@pytest.mark.parametrize(
    ("minor", "psa_version"),
    [(22, "v1alpha1"), (23, "v1beta1"), (24, "v1beta1"), (25, "v1"), (29, "v1"), (34, "v1")],
)
def test_admission_configuration_per_version(minor: int, psa_version: str) -> None:
    plan = _plan(f"{LAB}/kube-apiserver.yaml", version_override=f"1.{minor}.0")
    (admission,) = [f for f in plan.files if f.path.endswith("admission-config.yaml")]
    document = yaml.safe_load(admission.content)
    assert document["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert document["kind"] == "AdmissionConfiguration"
    plugins = {p["name"]: p["configuration"] for p in document["plugins"]}
    assert plugins["PodSecurity"] == {
        "apiVersion": f"pod-security.admission.config.k8s.io/{psa_version}",
        "kind": "PodSecurityConfiguration",
        "defaults": {
            "enforce": "baseline",
            "enforce-version": "latest",
            "audit": "restricted",
            "audit-version": "latest",
            "warn": "restricted",
            "warn-version": "latest",
        },
        "exemptions": {"namespaces": ["kube-system"]},
    }
    assert plugins["EventRateLimit"] == {
        "apiVersion": "eventratelimit.admission.k8s.io/v1alpha1",
        "kind": "Configuration",
        "limits": [{"type": "Server", "qps": 50, "burst": 100}],
    }


def test_admission_configuration_without_pod_security_before_1_22() -> None:
    plan = _plan("1.20.11/kube-controller-manager.yaml")  # any 1.20 manifest; the apiserver one is refused
    assert plan.problems == []
    plan = _plan(f"{LAB}/kube-apiserver.yaml", version_override="1.21.1")
    (admission,) = [f for f in plan.files if f.path.endswith("admission-config.yaml")]
    assert [p["name"] for p in yaml.safe_load(admission.content)["plugins"]] == ["EventRateLimit"]
    assert any("no Pod Security Admission" in n for n in plan.notes)


def test_audit_policy() -> None:
    policy = yaml.safe_load(render_template(AUDIT_POLICY_TEMPLATE))
    assert policy["apiVersion"] == "audit.k8s.io/v1" and policy["kind"] == "Policy"
    assert policy["omitStages"] == ["RequestReceived"]
    assert policy["rules"][-1] == {"level": "Metadata"}
    sensitive = next(r for r in policy["rules"] if r.get("resources"))
    assert sensitive["level"] == "Metadata"
    assert {"group": "", "resources": ["secrets", "configmaps"]} in sensitive["resources"]
    assert {"group": "authentication.k8s.io", "resources": ["tokenreviews"]} in sensitive["resources"]


def test_templates_quote_profile_values() -> None:
    text = render_template(
        ADMISSION_CONFIG_TEMPLATE,
        pod_security={
            "api_version": "pod-security.admission.config.k8s.io/v1",
            "enforce": "baseline",
            "audit": "restricted",
            "warn": "restricted",
            "exempt_namespaces": ["true", "123", "ns: {x}"],
        },
        event_rate_limit=None,
    )
    document = yaml.safe_load(text)
    assert document["plugins"][0]["configuration"]["exemptions"]["namespaces"] == ["true", "123", "ns: {x}"]
    authn = yaml.safe_load(
        render_template(AUTHENTICATION_CONFIG_TEMPLATE, api_version="apiserver.config.k8s.io/v1", anonymous_paths=[])
    )
    assert authn["anonymous"]["conditions"] is None


# ----------------------------------------------------------------------------------------------------
# Version rules
# ----------------------------------------------------------------------------------------------------


def test_1_23_keeps_insecure_port_zero() -> None:
    pod = _pod(_plan("1.23.6-modified/kube-apiserver.yaml").after)
    assert pod.get_flag("--insecure-port") == "0"


def test_1_22_gets_insecure_port_zero_added() -> None:
    assert "--insecure-port" not in _pod(_read("1.22.1/kube-apiserver.yaml")).flags()
    plan = _plan("1.22.1/kube-apiserver.yaml")
    assert _pod(plan.after).get_flag("--insecure-port") == "0"
    assert any(c.control_id == "KH-API-INSECURE" for c in plan.changes)


@pytest.mark.parametrize("name", [n for n in RENDERABLE if "kube-apiserver" in n])
def test_insecure_flags_by_version(name: str) -> None:
    pod = _pod(render_manifest(_read(name)))
    assert pod.version is not None
    flags = pod.flags()
    if pod.version >= (1, 24, 0):
        assert not {"--insecure-port", "--insecure-bind-address", "--port", "--address"} & set(flags)
    else:
        assert flags["--insecure-port"] == "0"
        assert "--insecure-bind-address" not in flags


def test_1_24_removes_insecure_port() -> None:
    text = _edited("1.23.6-modified/kube-apiserver.yaml", lambda pod: pod.set_flag("--insecure-port", "0"))
    plan = _plan(text, version_override="1.24.0")
    pod = _pod(plan.after)
    assert "--insecure-port" not in pod.flags()
    assert Change_ids(plan) >= {"KH-API-INSECURE"}
    assert plan.problems == []


def Change_ids(plan: ComponentPlan) -> set[str]:
    return {c.control_id for c in plan.changes}


def test_pod_security_policy_removed_on_1_25() -> None:
    def add_psp(pod: StaticPod) -> None:
        pod.set_flag("--enable-admission-plugins", "NodeRestriction,PodSecurityPolicy")

    old = _plan(_edited("1.23.6-modified/kube-apiserver.yaml", add_psp))
    assert "PodSecurityPolicy" in _csv(_pod(old.after).get_flag("--enable-admission-plugins") or "")
    new = _plan(_edited("1.26.1-hardened-audit/kube-apiserver.yaml", add_psp))
    plugins = _csv(_pod(new.after).get_flag("--enable-admission-plugins") or "")
    assert "PodSecurityPolicy" not in plugins
    assert plugins == ["NodeRestriction", "EventRateLimit"]
    assert new.problems == []
    assert any(c.control_id == "KH-API-PSA" and "PodSecurityPolicy" in c.description for c in new.changes)


def test_always_admit_and_disabled_plugins() -> None:
    def weaken(pod: StaticPod) -> None:
        pod.set_flag("--enable-admission-plugins", "AlwaysAdmit,NodeRestriction,AlwaysPullImages")
        pod.set_flag("--disable-admission-plugins", "ServiceAccount,NamespaceLifecycle,DefaultStorageClass")

    plan = _plan(_edited("1.29.0/kube-apiserver.yaml", weaken))
    pod = _pod(plan.after)
    assert pod.get_flag("--enable-admission-plugins") == "NodeRestriction,AlwaysPullImages,EventRateLimit"
    assert pod.get_flag("--disable-admission-plugins") == "DefaultStorageClass"
    assert {"1.2.10", "1.2.12", "1.2.13"} <= Change_ids(plan)
    assert plan.problems == []


@pytest.mark.parametrize(
    ("image", "expected"),
    [("3.5.7-0", None), ("3.5.10-0", "TLS1.2"), ("3.6.5-0", "TLS1.2"), ("3.4.25-0", "TLS1.2"), ("3.4.13-0", None)],
)
def test_etcd_tls_min_version_only_where_etcd_has_it(image: str, expected: str | None) -> None:
    def retag(pod: StaticPod) -> None:
        pod.container["image"] = f"registry.k8s.io/etcd:{image}"

    plan = _plan(_edited("1.29.0/etcd.yaml", retag))
    assert plan.problems == []
    assert _pod(plan.after).get_flag("--tls-min-version") == expected
    if expected is None:
        assert any("has no --tls-min-version" in n for n in plan.notes)


@pytest.mark.parametrize(
    "name", ["1.27.3-redacted/etcd.yaml", "1.26.1-hardened-audit/etcd.yaml", "1.22.1/kube-etcd.yaml"]
)
def test_kubeadm_etcd_before_3_5_8_gets_no_tls_min_version(name: str) -> None:
    assert "--tls-min-version" not in _pod(render_manifest(_read(name))).flags()


def test_apiserver_1_34_uses_authentication_config() -> None:
    def anonymous_off(pod: StaticPod) -> None:
        pod.set_flag("--anonymous-auth", "false")

    plan = _plan(_edited(f"{LAB}/kube-apiserver.yaml", anonymous_off))
    pod = _pod(plan.after)
    assert pod.get_flag("--authentication-config") == "/etc/kubernetes/authn/authentication-config.yaml"
    assert "--anonymous-auth" not in pod.flags()
    assert any(c.description.startswith("--anonymous-auth: false -> removed") for c in plan.changes)
    assert plan.problems == []


def test_apiserver_before_1_34_keeps_anonymous_auth_and_says_why() -> None:
    plan = _plan("1.29.0/kube-apiserver.yaml")
    pod = _pod(plan.after)
    assert "--authentication-config" not in pod.flags() and "--anonymous-auth" not in pod.flags()
    assert not any(f.path.endswith("authentication-config.yaml") for f in plan.files)
    assert any(n.startswith("1.2.1:") and "RBAC" in n for n in plan.notes)


def test_authentication_config_conflicts_are_problems() -> None:
    def oidc(pod: StaticPod) -> None:
        pod.set_flag("--oidc-issuer-url", "https://issuer.example.com")

    plan = _plan(_edited(f"{LAB}/kube-apiserver.yaml", oidc))
    assert any("--oidc-issuer-url cannot be combined with --authentication-config" in p for p in plan.problems)

    def foreign(pod: StaticPod) -> None:
        pod.set_flag("--authentication-config", "/etc/kubernetes/pki/authn.yaml")

    plan = _plan(_edited(f"{LAB}/kube-apiserver.yaml", foreign))
    assert any("already names /etc/kubernetes/pki/authn.yaml" in p for p in plan.problems)


def test_foreign_admission_config_is_a_problem() -> None:
    def foreign(pod: StaticPod) -> None:
        pod.set_flag("--admission-control-config-file", "/etc/kubernetes/pki/admission.yaml")

    plan = _plan(_edited("1.29.0/kube-apiserver.yaml", foreign))
    assert any(
        "--admission-control-config-file already names /etc/kubernetes/pki/admission.yaml" in p for p in plan.problems
    )


def test_unknown_version_is_a_problem_unless_given() -> None:
    def untag(pod: StaticPod) -> None:
        pod.container["image"] = "registry.example.com/kube-apiserver@sha256:abc"

    text = _edited("1.29.0/kube-apiserver.yaml", untag)
    plan = _plan(text)
    assert any("cannot read a version from the image" in p for p in plan.problems)
    assert plan.after == plan.before
    rendered = render_manifest(text, version="v1.29.0")
    assert _pod(rendered).get_flag("--profiling") == "false"


# ----------------------------------------------------------------------------------------------------
# Profile knobs
# ----------------------------------------------------------------------------------------------------


def test_tls_1_3_profile() -> None:
    profile = _profile(kubeharden_tls_min_version="1.3")
    for component, spelling in (
        ("kube-apiserver", "VersionTLS13"),
        ("kube-controller-manager", "VersionTLS13"),
        ("kube-scheduler", "VersionTLS13"),
        ("etcd", "TLS1.3"),
    ):
        pod = _pod(render_manifest(_read(f"{LAB}/{component}.yaml"), profile=profile))
        assert pod.get_flag("--tls-min-version") == spelling


def test_stricter_values_already_there_are_kept() -> None:
    def strict(pod: StaticPod) -> None:
        pod.set_flag("--audit-log-maxage", "90")
        pod.set_flag("--tls-min-version", "VersionTLS13")

    pod = _pod(_plan(_edited("1.29.0/kube-apiserver.yaml", strict)).after)
    assert pod.get_flag("--audit-log-maxage") == "90"
    assert pod.get_flag("--tls-min-version") == "VersionTLS13"


def test_weaker_values_are_raised() -> None:
    plan = _plan("1.28.1-hardened-audit/kube-apiserver.yaml")
    pod = _pod(plan.after)
    assert pod.get_flag("--audit-log-maxsize") == "100" and pod.get_flag("--audit-log-maxbackup") == "10"
    assert pod.get_flag("--audit-log-path") == "/var/log/kubernetes/audit/audit.log"
    # the policy sits in the existing writable /etc/kubernetes/audit mount: it gets a read-only file mount on top
    volume, mount = pod.volume_for_path("/etc/kubernetes/audit/policy.yaml") or (None, None)
    assert volume is not None and mount is not None
    assert (volume.name, volume.type, mount.read_only) == ("kubeharden-audit-policy", "File", True)
    assert plan.problems == []


def test_other_audit_policy_is_replaced_and_said() -> None:
    plan = _plan("1.26.1-hardened-audit/kube-apiserver.yaml")
    assert any(
        c.description
        == "--audit-policy-file: /etc/kubernetes/audit/audit-policy.yaml -> /etc/kubernetes/audit/policy.yaml"
        for c in plan.changes
    )


def test_kubelet_certificate_authority_only_when_profile_says() -> None:
    assert "--kubelet-certificate-authority" not in _pod(_plan("1.29.0/kube-apiserver.yaml").after).flags()
    plan = _plan("1.29.0/kube-apiserver.yaml", _profile(kubeharden_kubelet_serving_certs_signed=True))
    pod = _pod(plan.after)
    assert pod.get_flag("--kubelet-certificate-authority") == "/etc/kubernetes/pki/ca.crt"
    assert _failed_flag_controls(pod) == []
    assert "/etc/kubernetes/pki/ca.crt" in plan.required_paths


def test_missing_kubeadm_cert_flags_get_kubeadm_defaults() -> None:
    def strip(pod: StaticPod) -> None:
        pod.remove_flag("--kubelet-client-certificate")
        pod.remove_flag("--etcd-cafile")

    plan = _plan(_edited("1.29.0/kube-apiserver.yaml", strip))
    pod = _pod(plan.after)
    assert pod.get_flag("--kubelet-client-certificate") == "/etc/kubernetes/pki/apiserver-kubelet-client.crt"
    assert pod.get_flag("--etcd-cafile") == "/etc/kubernetes/pki/etcd/ca.crt"
    assert {"/etc/kubernetes/pki/apiserver-kubelet-client.crt", "/etc/kubernetes/pki/etcd/ca.crt"} <= set(
        plan.required_paths
    )
    assert plan.problems == []


def test_pki_directory_is_read_from_the_manifest() -> None:
    def minikube(pod: StaticPod) -> None:
        for name, value in pod.flags().items():
            if value.startswith("/etc/kubernetes/pki/"):
                pod.set_flag(name, value.replace("/etc/kubernetes/pki/", "/var/lib/minikube/certs/"))
        pod.remove_flag("--kubelet-client-key")
        pod.add_host_path_volume(
            "minikube-certs", "/var/lib/minikube/certs", "/var/lib/minikube/certs", True, "Directory"
        )

    plan = _plan(_edited("1.29.0/kube-apiserver.yaml", minikube))
    assert _pod(plan.after).get_flag("--kubelet-client-key") == "/var/lib/minikube/certs/apiserver-kubelet-client.key"
    assert plan.problems == []


def test_bind_address_and_port_move_the_probes() -> None:
    profile = _profile(kubeharden_apiserver_bind_address="10.0.0.5", kubeharden_apiserver_secure_port=8443)
    # numeric probe ports (kubeadm <= 1.33)
    plan = _plan("1.29.0/kube-apiserver.yaml", profile)
    pod = _pod(plan.after)
    assert pod.get_flag("--bind-address") == "10.0.0.5" and pod.get_flag("--secure-port") == "8443"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        assert pod.container[probe]["httpGet"]["host"] == "10.0.0.5"
        assert pod.container[probe]["httpGet"]["port"] == 8443
    endpoint = pod.document["metadata"]["annotations"][
        "kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint"
    ]
    assert endpoint == "172.30.1.2:8443"
    assert plan.problems == [] and not _plan(plan.after, profile).changed
    # named probe port (kubeadm 1.34): the container port follows
    pod = _pod(_plan(f"{LAB}/kube-apiserver.yaml", profile).after)
    assert pod.container["ports"] == [{"containerPort": 8443, "name": "probe-port", "protocol": "TCP"}]
    assert pod.container["livenessProbe"]["httpGet"]["port"] == "probe-port"


def test_unspecified_bind_address_keeps_probe_host() -> None:
    pod = _pod(_plan("1.29.0/kube-apiserver.yaml", _profile(kubeharden_apiserver_bind_address="0.0.0.0")).after)
    assert pod.get_flag("--bind-address") == "0.0.0.0"
    assert pod.container["livenessProbe"]["httpGet"]["host"] == "172.30.1.2"


def test_controller_manager_and_scheduler_move_to_loopback() -> None:
    for name in ("1.26.1-hardened-audit/kube-controller-manager.yaml", "1.26.1-hardened-audit/kube-scheduler.yaml"):
        assert _pod(_read(name)).get_flag("--bind-address") == "0.0.0.0"
        plan = _plan(name)
        pod = _pod(plan.after)
        assert pod.get_flag("--bind-address") == "127.0.0.1"
        assert all(pod.container[p]["httpGet"]["host"] == "127.0.0.1" for p in ("livenessProbe", "startupProbe"))


def test_probe_without_host_is_pointed_at_loopback() -> None:
    def drop_host(pod: StaticPod) -> None:
        del pod.container["livenessProbe"]["httpGet"]["host"]

    plan = _plan(_edited("1.29.0/kube-scheduler.yaml", drop_host))
    assert _pod(plan.after).container["livenessProbe"]["httpGet"]["host"] == "127.0.0.1"
    assert any(c.description.startswith("livenessProbe host") and c.control_id == "1.4.2" for c in plan.changes)


def test_rotate_kubelet_server_certificate_gate() -> None:
    def gates(pod: StaticPod) -> None:
        pod.set_flag("--feature-gates", "RotateKubeletServerCertificate=false,SomeGate=true")

    pod = _pod(_plan(_edited("1.29.0/kube-controller-manager.yaml", gates)).after)
    assert pod.get_flag("--feature-gates") == "SomeGate=true"

    def only(pod: StaticPod) -> None:
        pod.set_flag("--feature-gates", "RotateKubeletServerCertificate=false")

    assert "--feature-gates" not in _pod(_plan(_edited("1.29.0/kube-controller-manager.yaml", only)).after).flags()


def test_authorization_mode_keeps_webhook_and_drops_always_allow() -> None:
    def modes(pod: StaticPod) -> None:
        pod.set_flag("--authorization-mode", "AlwaysAllow,Webhook")

    plan = _plan(_edited("1.29.0/kube-apiserver.yaml", modes))
    assert _pod(plan.after).get_flag("--authorization-mode") == "Node,RBAC,Webhook"
    assert plan.problems == []


def test_etcd_insecure_settings() -> None:
    def weaken(pod: StaticPod) -> None:
        pod.set_flag("--client-cert-auth", "false")
        pod.set_flag("--auto-tls", "true")
        pod.set_flag("--peer-auto-tls", "false")

    plan = _plan(_edited("1.29.0/etcd.yaml", weaken))
    pod = _pod(plan.after)
    assert pod.get_flag("--client-cert-auth") == "true"
    assert "--auto-tls" not in pod.flags()
    assert pod.get_flag("--peer-auto-tls") == "false"
    assert plan.problems == []


def test_etcd_http_urls_are_a_problem_the_planner_does_not_fix() -> None:
    def plain(pod: StaticPod) -> None:
        pod.set_flag("--listen-client-urls", "http://127.0.0.1:2379,https://172.30.1.2:2379")

    plan = _plan(_edited("1.29.0/etcd.yaml", plain))
    assert any("--listen-client-urls has http://127.0.0.1:2379, which is not https" in p for p in plan.problems)
    assert _pod(plan.after).get_flag("--listen-client-urls") == "http://127.0.0.1:2379,https://172.30.1.2:2379"
    # the metrics listener may stay http
    assert _plan("1.29.0/etcd.yaml").problems == []


def test_files_inside_the_manifests_directory_are_refused() -> None:
    plan = _plan(
        "1.29.0/kube-apiserver.yaml", _profile(kubeharden_audit_policy_file="/etc/kubernetes/manifests/audit.yaml")
    )
    assert any("static pod directory /etc/kubernetes/manifests" in p for p in plan.problems)


def test_profile_extra_args_are_applied_and_judged() -> None:
    if "kubeharden_scheduler_extra_args" not in DEFAULTS:
        pytest.skip("the profile has no extra-args knobs")
    plan = _plan("1.29.0/kube-scheduler.yaml", _profile(kubeharden_scheduler_extra_args={"--v": "2"}))
    assert _pod(plan.after).get_flag("--v") == "2"
    assert any(c.control_id is None and c.origin == "kubeharden_scheduler_extra_args" for c in plan.changes)
    plan = _plan("1.29.0/kube-apiserver.yaml", _profile(kubeharden_apiserver_extra_args={"--insecure-port": "0"}))
    assert any("does not accept --insecure-port" in p for p in plan.problems)


# ----------------------------------------------------------------------------------------------------
# Waivers and area switches
# ----------------------------------------------------------------------------------------------------


def test_waived_control_is_not_applied() -> None:
    reason = "profiling is needed by the performance team until Q3"
    plan = _plan("1.29.0/kube-apiserver.yaml", _profile(kubeharden_waivers={"1.2.15": reason}))
    assert "--profiling" not in _pod(plan.after).flags()
    assert ("1.2.15", reason) in plan.waived
    assert "1.2.15" not in Change_ids(plan)
    assert plan.problems == []


def test_waived_audit_controls_skip_files_and_mounts() -> None:
    waivers = {c: "audit goes to a webhook in this cluster" for c in ("3.2.1", "1.2.16", "1.2.17", "1.2.18", "1.2.19")}
    plan = _plan(f"{LAB}/kube-apiserver.yaml", _profile(kubeharden_waivers=waivers))
    pod = _pod(plan.after)
    assert not {"--audit-policy-file", "--audit-log-path", "--audit-log-maxage"} & set(pod.flags())
    assert not any("audit" in f.path for f in plan.files)
    assert not any("audit" in v.name for v in pod.host_path_volumes())
    assert {c for c, _ in plan.waived} == set(waivers)


@pytest.mark.parametrize(("component", "area"), [(c, a) for c, a in COMPONENT_AREAS.items()])
def test_area_switch_off_leaves_the_component_untouched(component: str, area: str) -> None:
    switch = {
        "apiserver": "kubeharden_apiserver_enabled",
        "etcd": "kubeharden_etcd_enabled",
        "controller-manager": "kubeharden_controller_manager_enabled",
        "scheduler": "kubeharden_scheduler_enabled",
    }[area]
    reason = "managed by another team's tooling"
    profile = _profile(**{switch: False, "kubeharden_waivers": {area: reason}})
    text = _read(f"{LAB}/{component}.yaml")
    plan = plan_component(text, profile, manifest_path=f"/etc/kubernetes/manifests/{component}.yaml")
    assert plan.after == text and not plan.changed and plan.changes == []
    assert plan.files == [] and plan.directories == [] and plan.problems == []
    assert plan.waived == [(area, reason)]
    # an area waiver alone has the same effect
    profile = _profile(kubeharden_waivers={area: reason})
    assert plan_component(text, profile, manifest_path="/etc/kubernetes/manifests/x.yaml").after == text


WAIVABLE = sorted({c.id for c in CONTROLS if c.component in COMPONENT_AREAS} - {"1.2.5"})
WAIVER_FIXTURES = [f"{LAB}/{c}.yaml" for c in COMPONENT_AREAS] + [
    "1.23.6-modified/kube-apiserver.yaml",
    "1.26.1-hardened-audit/kube-apiserver.yaml",
    "1.28.1-hardened-audit/kube-apiserver.yaml",
    "1.26.1-hardened-audit/kube-controller-manager.yaml",
    "1.22.1/kube-apiserver.yaml",
]
FLAG_TESTS = {c.id: list(c.flag_tests) for c in CONTROLS}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(WAIVER_FIXTURES),
    waived=st.sets(st.sampled_from(WAIVABLE), max_size=12),
    tls=st.sampled_from(["1.2", "1.3"]),
)
def test_random_waivers_never_produce_problems_and_stay_idempotent(name: str, waived: set[str], tls: str) -> None:
    profile = _profile(
        kubeharden_waivers={c: "accepted risk, see ticket SEC-42" for c in waived}, kubeharden_tls_min_version=tls
    )
    plan = _plan(name, profile)
    assert plan.problems == []
    again = _plan(plan.after, profile)
    assert again.after == plan.after and not again.changed
    assert again.files == plan.files
    pod = _pod(plan.after)
    before = _pod(_read(name))
    component_controls = {c.id for c in _flag_controls(pod.component)}
    assert {c for c, _ in plan.waived} <= waived
    assert not {c.control_id for c in plan.changes} & waived
    # every control that is not waived is met
    assert _failed_flag_controls(pod, waived | DEFAULT_PROFILE_SKIPS, profile) == []
    # a waived control's flags are as they were (unless another, unwaived control sets the same flag)
    others = {t.flag for cid in component_controls - waived for t in FLAG_TESTS[cid]}
    if "KH-API-PSA" not in waived:
        others.add("--admission-control-config-file")  # Pod Security Admission needs the file too
    for cid in waived & component_controls:
        for test in FLAG_TESTS[cid]:
            if test.flag not in others and test.flag != "--authorization-mode":
                assert pod.get_flag(test.flag) == before.get_flag(test.flag), (cid, test.flag)


# ----------------------------------------------------------------------------------------------------
# kubeadm's ClusterConfiguration
# ----------------------------------------------------------------------------------------------------

# As kubeadm 1.34 stores it in the kubeadm-config ConfigMap (kubeadm config print init-defaults, lab values).
CLUSTER_CONFIGURATION_V1BETA4 = """\
apiServer:
  certSANs:
  - 10.77.0.11
  - cp1
apiVersion: kubeadm.k8s.io/v1beta4
caCertificateValidityPeriod: 87600h0m0s
certificateValidityPeriod: 8760h0m0s
certificatesDir: /etc/kubernetes/pki
clusterName: kubeharden-lab
controlPlaneEndpoint: 10.77.0.11:6443
controllerManager:
  extraArgs:
  - name: feature-gates
    value: RotateKubeletServerCertificate=false
dns: {}
encryptionAlgorithm: RSA-2048
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.34.4
networking:
  dnsDomain: cluster.local
  podSubnet: 10.244.0.0/16
  serviceSubnet: 10.96.0.0/12
proxy: {}
scheduler: {}
"""

# kubeadm 1.26 form (v1beta3, map-style extraArgs), with a hand-set extraArg the hardening must replace.
CLUSTER_CONFIGURATION_V1BETA3 = """\
apiServer:
  extraArgs:
    authorization-mode: Node,RBAC
    anonymous-auth: "false"
    profiling: "true"
  timeoutForControlPlane: 4m0s
apiVersion: kubeadm.k8s.io/v1beta3
certificatesDir: /etc/kubernetes/pki
clusterName: kubernetes
controllerManager: {}
dns: {}
etcd:
  local:
    dataDir: /var/lib/etcd
imageRepository: registry.k8s.io
kind: ClusterConfiguration
kubernetesVersion: v1.26.1
networking:
  dnsDomain: cluster.local
  serviceSubnet: 10.96.0.0/12
scheduler: {}
"""


def _lab_plans(profile: Mapping[str, Any] | None = None) -> list[ComponentPlan]:
    return [
        _plan(f"{LAB}/{c}.yaml", profile)
        for c in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]


def _args(section: Mapping[str, Any]) -> dict[str, str]:
    args = section.get("extraArgs") or {}
    if isinstance(args, list):
        return {a["name"]: a["value"] for a in args}
    return dict(args)


def test_cluster_configuration_v1beta4() -> None:
    plans = _lab_plans()
    text, changes = plan_cluster_configuration(CLUSTER_CONFIGURATION_V1BETA4, plans)
    config = yaml.safe_load(text)
    api = config["apiServer"]
    assert isinstance(api["extraArgs"], list) and all(set(a) == {"name", "value"} for a in api["extraArgs"])
    args = _args(api)
    hardened = _pod(plans[1].after).flags()
    for flag in (
        "--admission-control-config-file",
        "--audit-log-maxage",
        "--audit-log-path",
        "--audit-policy-file",
        "--authentication-config",
        "--enable-admission-plugins",
        "--profiling",
        "--service-account-lookup",
        "--tls-cipher-suites",
        "--tls-min-version",
    ):
        assert args[flag[2:]] == hardened[flag], flag
    assert "anonymous-auth" not in args and "secure-port" not in args and "bind-address" not in args
    volumes = {v["name"]: v for v in api["extraVolumes"]}
    assert volumes["kubeharden-audit-log"] == {
        "name": "kubeharden-audit-log",
        "hostPath": "/var/log/kubernetes/audit",
        "mountPath": "/var/log/kubernetes/audit",
        "readOnly": False,
        "pathType": "DirectoryOrCreate",
    }
    assert volumes["kubeharden-authn"]["pathType"] == "File" and volumes["kubeharden-authn"]["readOnly"] is True
    assert set(volumes) == {
        "kubeharden-audit-log",
        "kubeharden-audit-policy",
        "kubeharden-admission",
        "kubeharden-authn",
    }
    kcm = _args(config["controllerManager"])
    assert kcm["bind-address"] == "127.0.0.1" and kcm["profiling"] == "false"
    assert "feature-gates" not in kcm  # RotateKubeletServerCertificate=false removed (1.3.6)
    assert _args(config["scheduler"])["tls-min-version"] == "VersionTLS12"
    etcd = _args(config["etcd"]["local"])
    assert etcd == {"client-cert-auth": "true", "peer-client-cert-auth": "true", "tls-min-version": "TLS1.2"}
    assert "extraVolumes" not in config["etcd"]["local"]
    assert config["kubernetesVersion"] == "v1.34.4" and config["networking"]["podSubnet"] == "10.244.0.0/16"
    assert all(c.control_id and c.description for c in changes)
    assert any(c.control_id == "1.3.6" for c in changes)
    # idempotent
    assert plan_cluster_configuration(text, plans) == (text, [])


def test_cluster_configuration_v1beta3() -> None:
    plans = [_plan(f"1.26.1-hardened-audit/{c}.yaml") for c in ("etcd", "kube-apiserver", "kube-controller-manager")]
    text, changes = plan_cluster_configuration(CLUSTER_CONFIGURATION_V1BETA3, plans)
    config = yaml.safe_load(text)
    args = config["apiServer"]["extraArgs"]
    assert isinstance(args, dict) and all(isinstance(v, str) for v in args.values())
    assert args["profiling"] == "false"
    assert "insecure-port" not in args
    assert "anonymous-auth" in args  # 1.26: anonymous auth is left to the operator (kept as configured)
    assert args["audit-policy-file"] == "/etc/kubernetes/audit/policy.yaml"
    assert {v["name"] for v in config["apiServer"]["extraVolumes"]} >= {
        "kubeharden-audit-policy",
        "kubeharden-audit-log",
    }
    assert config["apiServer"]["timeoutForControlPlane"] == "4m0s"
    assert config["controllerManager"]["extraArgs"]["bind-address"] == "127.0.0.1"
    assert "tls-min-version" not in config["etcd"]["local"].get("extraArgs", {})  # etcd 3.5.6
    assert any(c.description == "apiServer.extraArgs profiling: true -> false" for c in changes)
    assert plan_cluster_configuration(text, plans) == (text, [])


def test_cluster_configuration_removes_flags_the_plan_removed() -> None:
    plans = _lab_plans()
    extra = (
        'apiServer:\n  extraArgs:\n  - name: anonymous-auth\n    value: "false"\n'
        "  - name: token-auth-file\n    value: /etc/kubernetes/tokens.csv\n"
    )
    config = CLUSTER_CONFIGURATION_V1BETA4.replace("apiServer:\n", extra)
    text, changes = plan_cluster_configuration(config, plans)
    args = _args(yaml.safe_load(text)["apiServer"])
    assert "anonymous-auth" not in args and "token-auth-file" not in args
    assert {"1.2.1", "1.2.2"} <= {c.control_id for c in changes}


def test_cluster_configuration_skips_plans_with_problems_and_external_etcd() -> None:
    plan = _plan("1.20.11/kube-apiserver.yaml")
    assert plan.problems
    assert plan_cluster_configuration(CLUSTER_CONFIGURATION_V1BETA3, [plan]) == (CLUSTER_CONFIGURATION_V1BETA3, [])
    external = CLUSTER_CONFIGURATION_V1BETA4.replace(
        "  local:\n    dataDir: /var/lib/etcd\n", "  external:\n    endpoints:\n    - https://10.0.0.9:2379\n"
    )
    text, _ = plan_cluster_configuration(external, [_plan(f"{LAB}/etcd.yaml")])
    assert "local" not in yaml.safe_load(text)["etcd"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: InitConfiguration\napiVersion: kubeadm.k8s.io/v1beta4\n", "not a kubeadm ClusterConfiguration"),
        ("kind: ClusterConfiguration\napiVersion: kubeadm.k8s.io/v1beta1\n", "kubeadm config migrate"),
        ("kind: [\n", "not valid YAML"),
    ],
)
def test_cluster_configuration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan_cluster_configuration(text, _lab_plans())
