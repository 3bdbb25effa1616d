"""Version rules: removed flags, restricted values, admission plugins, TLS spellings, PodSecurity and
anonymous auth, and the never-write guard."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kubeharden.core import values, versions
from kubeharden.core.profile import DEFAULTS, EXTRA_ARGS
from kubeharden.core.profile_checks import check_extra_args
from kubeharden.core.versions import AnonymousAuthStrategy, FlagKind


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("v1.29.0", (1, 29, 0)),
        ("1.29", (1, 29, 0)),
        ("3.5.10-0", (3, 5, 10)),
        ("v1.30.0-rc.1", (1, 30, 0)),
        ("v1.28.3+k3s1", (1, 28, 3)),
        ((1, 29), (1, 29, 0)),
        ((3, 5, 8), (3, 5, 8)),
    ],
)
def test_parse_version(text: versions.VersionLike, expected: versions.Version) -> None:
    assert versions.parse_version(text) == expected


@pytest.mark.parametrize("text", ["latest", "", "v1", "abc.def", (1, 2, 3, 4), (-1, 2)])
def test_parse_version_refuses_non_versions(text: versions.VersionLike) -> None:
    with pytest.raises(ValueError, match="version"):
        versions.parse_version(text)


@given(st.tuples(st.integers(0, 99), st.integers(0, 99), st.integers(0, 99)))
def test_format_then_parse_is_identity(version: versions.Version) -> None:
    assert versions.parse_version(versions.format_version(version)) == version
    assert versions.parse_version("v" + versions.format_version(version) + "-0") == version


@pytest.mark.parametrize(
    ("version", "present"),
    [
        ("1.23.17", {"--basic-auth-file", "--kubelet-https"}),
        (
            "1.25.0",
            {
                "--basic-auth-file",
                "--kubelet-https",
                "--insecure-port",
                "--insecure-bind-address",
                "--address",
                "--port",
                "--enable-swagger-ui",
                "--service-account-api-audiences",
            },
        ),
        (
            "1.24.0",
            {
                "--basic-auth-file",
                "--kubelet-https",
                "--insecure-port",
                "--insecure-bind-address",
                "--address",
                "--port",
                "--enable-swagger-ui",
            },
        ),
        ("1.21.0", {"--basic-auth-file"}),
        ("1.18.0", set()),
    ],
)
def test_apiserver_removed_flags(version: str, present: set[str]) -> None:
    assert versions.removed_flags("kube-apiserver", version) == present


def test_apiserver_removals_by_version() -> None:
    assert "--service-account-api-audiences" not in versions.removed_flags("kube-apiserver", "1.24.9")
    assert "--service-account-api-audiences" in versions.removed_flags("kube-apiserver", "1.25.0")
    assert versions.flag_allowed("kube-apiserver", "1.23.17", "--insecure-port")
    assert not versions.flag_allowed("kube-apiserver", "1.24.0", "--insecure-port")
    assert not versions.flag_allowed("kube-apiserver", "1.24.0", "insecure-bind-address")
    assert versions.flag_allowed("kube-apiserver", "1.29.0", "--profiling")


def test_controller_manager_and_scheduler_removals() -> None:
    assert versions.flag_allowed("kube-controller-manager", "1.23.5", "--port")
    assert not versions.flag_allowed("kube-controller-manager", "1.24.0", "--port")
    assert not versions.flag_allowed("kube-controller-manager", "1.24.0", "--address")
    assert versions.flag_allowed("kube-scheduler", "1.29.0", "--port")  # still accepted, a no-op
    assert versions.flag_allowed("kube-scheduler", "1.22.9", "--policy-config-file")
    assert not versions.flag_allowed("kube-scheduler", "1.23.0", "--policy-config-file")


@pytest.mark.parametrize(
    ("etcd", "allowed"),
    [
        ("3.4.13", False),
        ("3.4.24", False),
        ("3.4.25", True),
        ("3.4.30", True),
        ("3.5.0", False),
        ("3.5.7", False),
        ("3.5.8", True),
        ("3.5.16", True),
        ("3.6.0", True),
    ],
)
def test_etcd_tls_version_flags(etcd: str, allowed: bool) -> None:
    assert versions.flag_allowed("etcd", etcd, "--tls-min-version") is allowed
    assert versions.flag_allowed("etcd", etcd, "--tls-max-version") is allowed
    assert (versions.removed_flags("etcd", etcd) == set()) is allowed


@given(
    st.sampled_from(sorted({rule.component for rule in versions.FLAG_AVAILABILITY})),
    st.tuples(st.integers(1, 3), st.integers(0, 40), st.integers(0, 30)),
    st.tuples(st.integers(0, 2), st.integers(0, 10), st.integers(0, 30)),
)
def test_plain_removals_stay_removed(component: str, version: versions.Version, step: versions.Version) -> None:
    """A flag removed in some version is also refused by every later one (only etcd's TLS flags come back)."""
    later = (version[0] + step[0], version[1] + step[1], version[2] + step[2])
    ranged = {rule.flag for rule in versions.FLAG_AVAILABILITY if len(rule.accepted) > 1}
    before = versions.removed_flags(component, version) - ranged
    assert before <= versions.removed_flags(component, later)


def test_insecure_port_may_only_be_zero_on_1_20_to_1_23() -> None:
    problem = versions.flag_value_problem("kube-apiserver", "1.21.0", "--insecure-port", "8080")
    assert problem is not None
    assert "--insecure-port=8080" in problem and "only 0" in problem
    assert versions.flag_value_problem("kube-apiserver", "1.21.0", "--insecure-port", "0") is None
    assert versions.flag_value_problem("kube-apiserver", "1.19.0", "--insecure-port", "8080") is None
    assert versions.flag_value_problem("kube-controller-manager", "1.22.1", "--port", "10252") is not None
    assert versions.flag_value_problem("kube-controller-manager", "1.21.0", "--port", "10252") is None
    assert versions.flag_value_problem("kube-scheduler", "1.29.0", "--port", "10251") is not None


def test_removed_admission_plugins() -> None:
    assert versions.removed_admission_plugins("1.24.17") == set()
    assert versions.removed_admission_plugins("1.25.0") == {"PodSecurityPolicy"}
    assert versions.removed_admission_plugins("1.29.9") == {"PodSecurityPolicy"}
    assert versions.removed_admission_plugins("1.30.0") == {"PodSecurityPolicy", "SecurityContextDeny"}


@pytest.mark.parametrize(
    ("component", "tls", "spelling"),
    [
        ("kube-apiserver", "1.2", "VersionTLS12"),
        ("kube-controller-manager", "1.3", "VersionTLS13"),
        ("kube-scheduler", "1.2", "VersionTLS12"),
        ("kubelet", "1.3", "VersionTLS13"),
        ("etcd", "1.2", "TLS1.2"),
        ("etcd", "1.3", "TLS1.3"),
    ],
)
def test_tls_version_spelling(component: str, tls: str, spelling: str) -> None:
    assert values.tls_spelling(component, tls) == spelling


def test_tls_version_spelling_refuses_unknowns() -> None:
    with pytest.raises(ValueError, match="TLS version"):
        values.tls_spelling("etcd", "1.4")
    with pytest.raises(ValueError, match="coredns"):
        values.tls_spelling("coredns", "1.2")


def test_kubeadm_etcd_versions_from_pitfalls() -> None:
    assert versions.kubeadm_etcd_version(21) == (3, 4, 13)
    assert versions.kubeadm_etcd_version(27) == (3, 5, 7)
    assert versions.kubeadm_etcd_version(29) == (3, 5, 10)
    assert versions.kubeadm_etcd_version(32) == (3, 5, 16)
    assert versions.kubeadm_etcd_version(24) is None  # not recorded in docs/pitfalls.md
    # kubeadm's etcd for <= 1.27 is older than 3.5.8: adding --tls-min-version there stops etcd
    for minor in (21, 22, 23, 25, 26, 27):
        etcd = versions.kubeadm_etcd_version(minor)
        assert etcd is not None
        assert not versions.flag_allowed("etcd", etcd, "--tls-min-version")


@pytest.mark.parametrize(
    ("version", "api"),
    [
        ("1.22.1", "pod-security.admission.config.k8s.io/v1alpha1"),
        ("1.23.6", "pod-security.admission.config.k8s.io/v1beta1"),
        ("1.24.0", "pod-security.admission.config.k8s.io/v1beta1"),
        ("1.25.0", "pod-security.admission.config.k8s.io/v1"),
        ("1.34.1", "pod-security.admission.config.k8s.io/v1"),
    ],
)
def test_admission_config_api_version(version: str, api: str) -> None:
    assert versions.admission_config_api_version(version) == api


def test_admission_config_api_version_before_pod_security() -> None:
    with pytest.raises(ValueError, match="no PodSecurity admission plugin"):
        versions.admission_config_api_version("1.21.0")


def test_anonymous_auth_strategy() -> None:
    assert versions.anonymous_auth_strategy("1.34.0") == "authentication-config"
    assert versions.anonymous_auth_strategy("1.35.2") is AnonymousAuthStrategy.AUTHENTICATION_CONFIG
    assert versions.anonymous_auth_strategy("1.33.5") is AnonymousAuthStrategy.RBAC_HEALTH_ONLY
    assert versions.anonymous_auth_strategy("1.20.0") is AnonymousAuthStrategy.RBAC_HEALTH_ONLY
    assert versions.ANONYMOUS_HEALTH_PATHS == ("/livez", "/readyz", "/healthz")


def _refused(component: str, args: dict[str, str]) -> list[str]:
    """What the catalog says of extra flags (the rules versions.never_write used to hold, now every control's test)."""
    key = {v: k for k, v in EXTRA_ARGS.items()}[component]
    return check_extra_args({**DEFAULTS, key: args}, "h")


def test_never_write_secure_port_zero() -> None:
    problems = _refused("kube-apiserver", {"--secure-port": "0", "--profiling": "false"})
    assert len(problems) == 1
    assert "--secure-port=0" in problems[0] and "KH-API-BIND" in problems[0] and "waive" in problems[0]
    assert _refused("kube-scheduler", {"--secure-port": "0"})
    assert _refused("kube-apiserver", {"--secure-port": "6443"}) == []


def test_never_write_other_rules() -> None:
    assert _refused("kube-apiserver", {"--insecure-port": "8080"})
    assert _refused("kube-apiserver", {"--insecure-port": "0"}) == []
    assert "1.2.6" in " ".join(_refused("kube-apiserver", {"--authorization-mode": "Node,RBAC,AlwaysAllow"}))
    assert "1.2.10" in " ".join(
        _refused("kube-apiserver", {"--enable-admission-plugins": "NodeRestriction,AlwaysAdmit"})
    )
    assert len(_refused("etcd", {"--auto-tls": "true", "--peer-client-cert-auth": "false"})) == 2
    assert _refused("etcd", {"--client-cert-auth": "true", "--auto-tls": "false"}) == []


def test_check_flags_collects_every_rule() -> None:
    problems = versions.check_flags(
        "kube-apiserver",
        "1.30.0",
        {
            "--insecure-port": "0",
            "--enable-admission-plugins": "NodeRestriction,PodSecurityPolicy,SecurityContextDeny",
            "--secure-port": "0",
        },
    )
    assert len(problems) == 3  # --secure-port=0 is the catalog's business (test_never_write_secure_port_zero)
    assert "does not accept --insecure-port" in problems[0]
    assert any("PodSecurityPolicy" in p for p in problems)
    assert any("SecurityContextDeny" in p for p in problems)
    assert versions.check_flags("etcd", "3.5.7", {"--tls-min-version": "TLS1.2"})
    assert versions.check_flags("etcd", "3.5.10", {"--tls-min-version": "TLS1.2"}) == []


def test_flag_kinds() -> None:
    assert versions.flag_kind("kube-apiserver", "1.29.0", "--tls-cipher-suites") is FlagKind.LIST
    assert versions.flag_kind("kube-apiserver", "1.29.0", "--enable-admission-plugins") is FlagKind.LIST
    assert versions.flag_kind("kube-apiserver", "1.29.0", "--service-account-key-file") is FlagKind.ARRAY
    assert versions.flag_kind("kube-apiserver", "1.22.0", "--service-account-issuer") is FlagKind.ARRAY
    assert versions.flag_kind("kube-apiserver", "1.20.11", "--service-account-issuer") is FlagKind.SCALAR
    assert versions.flag_kind("kube-controller-manager", "1.29.0", "--feature-gates") is FlagKind.MAP
    assert versions.flag_kind("etcd", "3.5.10", "--listen-client-urls") is FlagKind.SCALAR
    assert versions.flag_kind("kube-apiserver", "1.29.0", "--profiling") is FlagKind.SCALAR


def test_known_range() -> None:
    assert versions.in_known_range("kube-apiserver", "1.29.0")
    assert not versions.in_known_range("kube-apiserver", "1.17.0")
    assert versions.in_known_range("etcd", "3.4.13")
