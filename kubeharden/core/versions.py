"""Version rules for the kubeadm control plane: the flags, plugins and spellings each version accepts.

Pure data and lookups, no I/O. Everything a rule says comes from a changelog or the project's docs/pitfalls.md; the
tables below name their source so a reader can check them. A component's version is its own version (etcd
3.5.10, kube-apiserver 1.29.0), read from the manifest's image tag.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

Version = tuple[int, int, int]
"""A component's own version: (major, minor, patch)."""

VersionLike = str | tuple[int, ...]
"""What the public functions accept: ``"v1.29.0"``, ``"3.5.10-0"``, ``(1, 29)`` or ``(1, 29, 0)``."""

KUBE_COMPONENTS = frozenset({"kube-apiserver", "kube-controller-manager", "kube-scheduler"})
"""Control-plane components built on k8s.io/component-base (pflag command lines)."""

ETCD = "etcd"
KUBELET = "kubelet"

KNOWN_KUBERNETES: tuple[Version, Version] = ((1, 20, 0), (1, 34, 999))
"""The Kubernetes versions whose flag rules these tables were written against (inclusive)."""

_ZERO: Version = (0, 0, 0)


def parse_version(text: VersionLike) -> Version:
    """Turn ``v1.29.0``, ``1.29``, ``3.5.10-0`` or a tuple into (major, minor, patch); missing parts are 0.

    Raises ValueError with a sentence when nothing version-like is found, so a caller can say which image or
    input was wrong.
    """
    if isinstance(text, tuple):
        if not 1 <= len(text) <= 3 or not all(isinstance(part, int) and part >= 0 for part in text):
            raise ValueError(f"version {text!r} is not a tuple of one to three non-negative integers")
        padded = (*text, 0, 0)
        return (padded[0], padded[1], padded[2])
    raw = text.strip()
    body = raw[1:] if raw[:1] in ("v", "V") else raw
    parts: list[int] = []
    for chunk in body.split(".", 2):
        digits = ""
        for char in chunk:
            if not char.isdigit():
                break
            digits += char
        if not digits:
            break
        parts.append(int(digits))
        if len(digits) != len(chunk):
            break  # a suffix such as "-0", "-rc.1" or "+k3s1" ends the numeric part
    if len(parts) < 2:
        raise ValueError(f"cannot read a version from {text!r}: expected something like v1.29.0 or 3.5.10-0")
    return parse_version(tuple(parts))


def format_version(version: VersionLike) -> str:
    """Render a version the way people write it (``1.29.0``) for messages."""
    major, minor, patch = parse_version(version)
    return f"{major}.{minor}.{patch}"


def _in_range(version: Version, since: Version, until: Version | None) -> bool:
    return since <= version and (until is None or version < until)


def normalize_flag(name: str) -> str:
    """Spell a flag name the way the tables do: ``--name`` (accepts ``name``, ``-name`` and ``--name``)."""
    return "--" + name.lstrip("-")


# ----------------------------------------------------------------------------------------------------
# Flags that exist only in some versions
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagAvailability:
    """A flag exists in the component only inside ``accepted`` (half-open version ranges); elsewhere it is
    unknown to the binary, which then exits at start ("unknown flag")."""

    component: str
    flag: str
    accepted: tuple[tuple[Version, Version | None], ...]
    source: str


def _removed_in(component: str, flag: str, version: Version, source: str) -> FlagAvailability:
    return FlagAvailability(component, flag, ((_ZERO, version),), source)


_APISERVER = "kube-apiserver"
_KCM = "kube-controller-manager"
_SCHEDULER = "kube-scheduler"

FLAG_AVAILABILITY: tuple[FlagAvailability, ...] = (
    _removed_in(_APISERVER, "--insecure-port", (1, 24, 0), "CHANGELOG-1.24, kubernetes#106859"),
    _removed_in(_APISERVER, "--insecure-bind-address", (1, 24, 0), "CHANGELOG-1.24, kubernetes#106859"),
    _removed_in(_APISERVER, "--address", (1, 24, 0), "CHANGELOG-1.24, kubernetes#106859"),
    _removed_in(_APISERVER, "--port", (1, 24, 0), "CHANGELOG-1.24, kubernetes#106859"),
    _removed_in(_APISERVER, "--basic-auth-file", (1, 19, 0), "CHANGELOG-1.19"),
    _removed_in(_APISERVER, "--kubelet-https", (1, 22, 0), "CHANGELOG-1.22"),
    _removed_in(_APISERVER, "--enable-swagger-ui", (1, 24, 0), "CHANGELOG-1.24"),
    _removed_in(_APISERVER, "--service-account-api-audiences", (1, 25, 0), "CHANGELOG-1.25"),
    _removed_in(_KCM, "--address", (1, 24, 0), "CHANGELOG-1.24, kubernetes#96216"),
    _removed_in(_KCM, "--port", (1, 24, 0), "CHANGELOG-1.24, kubernetes#96216"),
    _removed_in(_SCHEDULER, "--policy-config-file", (1, 23, 0), "CHANGELOG-1.23, kubernetes#105424"),
    _removed_in(_SCHEDULER, "--policy-configmap", (1, 23, 0), "CHANGELOG-1.23, kubernetes#105424"),
    _removed_in(_SCHEDULER, "--policy-configmap-namespace", (1, 23, 0), "CHANGELOG-1.23, kubernetes#105424"),
    _removed_in(_SCHEDULER, "--use-legacy-policy-config", (1, 23, 0), "CHANGELOG-1.23, kubernetes#105424"),
    FlagAvailability(
        ETCD,
        "--tls-min-version",
        (((3, 4, 25), (3, 5, 0)), ((3, 5, 8), None)),
        "etcd CHANGELOG-3.4 (3.4.25) and CHANGELOG-3.5 (3.5.8)",
    ),
    FlagAvailability(
        ETCD,
        "--tls-max-version",
        (((3, 4, 25), (3, 5, 0)), ((3, 5, 8), None)),
        "etcd CHANGELOG-3.4 (3.4.25) and CHANGELOG-3.5 (3.5.8)",
    ),
)


def _availability(component: str, flag: str) -> FlagAvailability | None:
    wanted = normalize_flag(flag)
    for rule in FLAG_AVAILABILITY:
        if rule.component == component and rule.flag == wanted:
            return rule
    return None


def removed_flags(component: str, version: VersionLike) -> set[str]:
    """The flags from the tables that ``component`` at ``version`` does not accept (removed, or not added
    yet).

    Passing any of them stops the component at start; a flag that is in no table is assumed to be accepted.
    """
    current = parse_version(version)
    return {
        rule.flag
        for rule in FLAG_AVAILABILITY
        if rule.component == component and not any(_in_range(current, since, until) for since, until in rule.accepted)
    }


def flag_allowed(component: str, version: VersionLike, flag: str) -> bool:
    """Whether ``component`` at ``version`` accepts ``flag`` at all (its value is judged by
    ``flag_value_problem``)."""
    return normalize_flag(flag) not in removed_flags(component, version)


# ----------------------------------------------------------------------------------------------------
# Flags whose value is restricted in some versions
# ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlagValueRule:
    """Inside [since, until) the flag accepts only ``allowed``; the component refuses other values or, worse,
    serves insecurely."""

    component: str
    flag: str
    since: Version
    until: Version | None
    allowed: frozenset[str]
    why: str


FLAG_VALUE_RULES: tuple[FlagValueRule, ...] = (
    FlagValueRule(
        _APISERVER,
        "--insecure-port",
        (1, 20, 0),
        (1, 24, 0),
        frozenset({"0"}),
        "insecure serving was removed in 1.20 and the flag may only be 0 ('only zero is allowed')",
    ),
    FlagValueRule(
        _APISERVER,
        "--port",
        (1, 20, 0),
        (1, 24, 0),
        frozenset({"0"}),
        "insecure serving was removed in 1.20 and the flag may only be 0",
    ),
    FlagValueRule(
        _KCM,
        "--port",
        (1, 22, 0),
        (1, 24, 0),
        frozenset({"0"}),
        "insecure serving was disabled in 1.22 and the flag may only be 0 (kubernetes#96216)",
    ),
    FlagValueRule(
        _SCHEDULER,
        "--port",
        _ZERO,
        None,
        frozenset({"0"}),
        "a non-zero --port serves the scheduler without authentication before 1.23 and is a no-op after",
    ),
)


def flag_value_problem(component: str, version: VersionLike, flag: str, value: str) -> str | None:
    """A sentence saying why ``value`` is wrong for ``flag`` on this version, or None when it is fine."""
    current = parse_version(version)
    wanted = normalize_flag(flag)
    for rule in FLAG_VALUE_RULES:
        if rule.component != component or rule.flag != wanted:
            continue
        if _in_range(current, rule.since, rule.until) and value not in rule.allowed:
            allowed = " or ".join(sorted(rule.allowed))
            return (
                f"{component} {format_version(current)}: {wanted}={value} is not accepted, only {allowed}: "
                f"{rule.why}; set {wanted}={allowed} or remove the flag"
            )
    return None


# ----------------------------------------------------------------------------------------------------
# How repeated flags combine
# ----------------------------------------------------------------------------------------------------


class FlagKind(StrEnum):
    """How a binary combines a flag given more than once (pflag semantics; etcd's Go flag package: last
    wins)."""

    SCALAR = "scalar"  # the last occurrence wins
    LIST = "list"  # pflag stringSlice: each occurrence is a comma list; later occurrences append
    ARRAY = "array"  # pflag stringArray: each occurrence is one item; later occurrences append
    MAP = "map"  # key=value comma list; occurrences merge, a later key wins


_COMMON_KUBE_KINDS: Mapping[str, FlagKind] = {
    "--tls-cipher-suites": FlagKind.LIST,
    "--tls-sni-cert-key": FlagKind.ARRAY,
    "--requestheader-allowed-names": FlagKind.LIST,
    "--requestheader-username-headers": FlagKind.LIST,
    "--requestheader-group-headers": FlagKind.LIST,
    "--requestheader-extra-headers-prefix": FlagKind.LIST,
    "--requestheader-uid-headers": FlagKind.LIST,
    "--feature-gates": FlagKind.MAP,
}

_FLAG_KINDS: Mapping[str, Mapping[str, FlagKind]] = {
    _APISERVER: {
        **_COMMON_KUBE_KINDS,
        "--authorization-mode": FlagKind.LIST,
        "--enable-admission-plugins": FlagKind.LIST,
        "--disable-admission-plugins": FlagKind.LIST,
        "--admission-control": FlagKind.LIST,
        "--etcd-servers": FlagKind.LIST,
        "--etcd-servers-overrides": FlagKind.LIST,
        "--api-audiences": FlagKind.LIST,
        "--kubelet-preferred-address-types": FlagKind.LIST,
        "--cors-allowed-origins": FlagKind.LIST,
        "--service-account-key-file": FlagKind.ARRAY,
        "--runtime-config": FlagKind.MAP,
    },
    _KCM: {**_COMMON_KUBE_KINDS, "--controllers": FlagKind.LIST},
    _SCHEDULER: dict(_COMMON_KUBE_KINDS),
}


def flag_kind(component: str, version: VersionLike | None, flag: str) -> FlagKind:
    """How ``component`` combines repeated occurrences of ``flag``; unknown flags are taken as last-wins
    scalars.

    ``--service-account-issuer`` became repeatable (a list of accepted issuers) in 1.22; before, the last one
    won.
    """
    name = normalize_flag(flag)
    if component == _APISERVER and name == "--service-account-issuer":
        if version is None or parse_version(version) >= (1, 22, 0):
            return FlagKind.ARRAY
        return FlagKind.SCALAR
    return _FLAG_KINDS.get(component, {}).get(name, FlagKind.SCALAR)


# ----------------------------------------------------------------------------------------------------
# Admission plugins, TLS spellings, kubeadm's etcd, PodSecurity and anonymous auth
# ----------------------------------------------------------------------------------------------------

_REMOVED_ADMISSION_PLUGINS: tuple[tuple[str, Version, str], ...] = (
    ("PodSecurityPolicy", (1, 25, 0), "replaced by Pod Security Admission (PodSecurity)"),
    ("SecurityContextDeny", (1, 30, 0), "use Pod Security Admission instead"),
)


def removed_admission_plugins(version: VersionLike) -> set[str]:
    """Admission plugins kube-apiserver at ``version`` no longer knows ("plugin ... is unknown" at start)."""
    current = parse_version(version)
    return {name for name, removed, _ in _REMOVED_ADMISSION_PLUGINS if current >= removed}


def admission_plugin_replacement(plugin: str) -> str:
    """What to use instead of a removed admission plugin, for error messages."""
    for name, _, instead in _REMOVED_ADMISSION_PLUGINS:
        if name == plugin:
            return instead
    return "remove it"


KUBEADM_ETCD_VERSIONS: Mapping[int, Version] = {
    21: (3, 4, 13),
    22: (3, 5, 0),
    23: (3, 5, 1),
    25: (3, 5, 4),
    26: (3, 5, 6),
    27: (3, 5, 7),
    29: (3, 5, 10),
    32: (3, 5, 16),
}
"""etcd image kubeadm ships per Kubernetes 1.<minor> (docs/pitfalls.md); minors not listed are not recorded."""


def kubeadm_etcd_version(k8s_minor: int) -> Version | None:
    """The etcd version kubeadm 1.<k8s_minor> deploys, when recorded; informational only.

    The manifest's image tag is what counts: always prefer reading it over this table.
    """
    return KUBEADM_ETCD_VERSIONS.get(k8s_minor)


def admission_config_api_version(version: VersionLike) -> str:
    """apiVersion of the PodSecurity plugin configuration inside an AdmissionConfiguration for this
    kube-apiserver.

    v1 from 1.25, v1beta1 on 1.23-1.24, v1alpha1 on 1.22; older apiservers have no PodSecurity admission.
    """
    current = parse_version(version)
    group = "pod-security.admission.config.k8s.io"
    if current >= (1, 25, 0):
        return f"{group}/v1"
    if current >= (1, 23, 0):
        return f"{group}/v1beta1"
    if current >= (1, 22, 0):
        return f"{group}/v1alpha1"
    raise ValueError(
        f"kube-apiserver {format_version(current)} has no PodSecurity admission plugin (it arrived in 1.22): "
        "upgrade the cluster before configuring Pod Security Admission"
    )


class AnonymousAuthStrategy(StrEnum):
    """How kubeharden restricts anonymous requests to kube-apiserver (CIS 1.2.1)."""

    AUTHENTICATION_CONFIG = "authentication-config"
    RBAC_HEALTH_ONLY = "rbac-health-only"


ANONYMOUS_HEALTH_PATHS: tuple[str, ...] = ("/livez", "/readyz", "/healthz")
"""The only paths anonymous requests may reach: the kubelet's probes of kubeadm's apiserver manifest use
them."""


def anonymous_auth_strategy(version: VersionLike) -> AnonymousAuthStrategy:
    """Pick how to restrict anonymous access for this kube-apiserver version.

    1.34+: an AuthenticationConfiguration (``--authentication-config``) whose ``anonymous`` section allows
    only ANONYMOUS_HEALTH_PATHS (KEP-4633, stable in 1.34); ``--anonymous-auth`` must then be absent, the two
    cannot be combined.

    Older versions: keep anonymous auth on and make sure RBAC grants ``system:unauthenticated`` nothing beyond
    the health and version endpoints (kubespray's choice). ``--anonymous-auth=false`` is not used there
    because kubeadm's liveness, readiness and startup probes GET /livez and /readyz without credentials: they
    would get 401 and the kubelet would restart the apiserver forever (kubernetes#43784, kubeadm#798). The
    ways around that are worse: tcpSocket probes stop checking health, a token in an httpGet header puts a
    credential in the manifest, and ``kubeadm upgrade`` rewrites the probes anyway. CIS accepts either as long
    as anonymous requests are restricted.
    """
    if parse_version(version) >= (1, 34, 0):
        return AnonymousAuthStrategy.AUTHENTICATION_CONFIG
    return AnonymousAuthStrategy.RBAC_HEALTH_ONLY


def check_flags(component: str, version: VersionLike, flags: Mapping[str, str | None]) -> list[str]:
    """Everything the version rules say about a whole flag set: unknown flags, restricted values and removed
    admission plugins, as sentences. Used both before writing a plan and by lint. (What a flag may be set to for
    security is the catalog's business: every control's test holds a plan, kubeharden.core.planning.)
    """
    current = parse_version(version)
    planned = {normalize_flag(name): ("" if value is None else str(value)) for name, value in flags.items()}
    problems: list[str] = []
    gone = removed_flags(component, current)
    for name in planned:
        if name in gone:
            rule = _availability(component, name)
            source = f" ({rule.source})" if rule else ""
            problems.append(
                f"{component} {format_version(current)} does not accept {name}{source}: the component would "
                f"exit at start with 'unknown flag'; remove {name}"
            )
    for name, value in planned.items():
        if name in gone:
            continue
        problem = flag_value_problem(component, current, name, value)
        if problem:
            problems.append(problem)
    if component == _APISERVER:
        removed = removed_admission_plugins(current)
        for plugin in [p.strip() for p in planned.get("--enable-admission-plugins", "").split(",") if p.strip()]:
            if plugin in removed:
                problems.append(
                    f"kube-apiserver {format_version(current)} no longer has the admission plugin {plugin} "
                    f"('plugin {plugin} is unknown' at start): remove it from --enable-admission-plugins; "
                    f"{admission_plugin_replacement(plugin)}"
                )
    return problems


def in_known_range(component: str, version: VersionLike) -> bool:
    """Whether the tables were written for this version (always True for components other than
    Kubernetes')."""
    if component not in KUBE_COMPONENTS:
        return True
    low, high = KNOWN_KUBERNETES
    return low <= parse_version(version) <= high
