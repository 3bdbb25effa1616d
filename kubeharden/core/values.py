"""Value semantics shared by planning and judging: how the binaries read the values kubeharden writes and checks.

One module, so the planner and the judge cannot disagree about what a value means: Go's ``strconv.ParseBool``
(pflag's booleans: ``False`` is false), comma lists compared item by item (never by substring), feature-gate maps
(``A=true,B=False``), file modes as a bitmask maximum ("600 or stricter", as kube-bench judges), and the order of
TLS versions in both spellings (``VersionTLS12`` for Kubernetes, ``TLS1.2`` for etcd). Pure logic.
"""

from __future__ import annotations

_TRUE = frozenset({"1", "t", "true"})
_FALSE = frozenset({"0", "f", "false"})

TLS_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2", "1.3")
"""TLS versions as the profile writes them."""

_KUBE_TLS = frozenset({"kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet"})
_TLS_RANK = {
    **{f"VersionTLS1{minor}": 10 + minor for minor in range(4)},
    **{f"TLS1.{minor}": 10 + minor for minor in range(4)},
    **{f"1.{minor}": 10 + minor for minor in range(4)},
}


def go_bool(value: str | None) -> bool | None:
    """Go's strconv.ParseBool (pflag): 1/t/true and 0/f/false in any case; None for anything else."""
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def same(left: str, right: str) -> bool:
    """Equal as the binary reads them: booleans by value (``False`` == ``false``), anything else as text."""
    a, b = go_bool(left), go_bool(right)
    if a is not None and b is not None:
        return a == b
    return left.strip() == right.strip()


def items(value: str | None) -> list[str]:
    """The items of a comma list (pflag stringSlice), blanks dropped."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def join(values: list[str]) -> str:
    return ",".join(values)


def gate_map(value: str | None) -> dict[str, str]:
    """A ``key=value`` comma map (``--feature-gates``); a later key wins, as the binary merges them."""
    found: dict[str, str] = {}
    for item in items(value):
        key, _, setting = item.partition("=")
        found[key.strip()] = setting.strip()
    return found


def gate_disabled(value: str | None, gate: str) -> bool:
    """Whether the map sets ``gate`` to false (Go booleans: ``False``, ``0`` and ``f`` count)."""
    setting = gate_map(value).get(gate)
    return setting is not None and go_bool(setting) is False


def without_gate(value: str | None, gate: str) -> str:
    """The map with every entry of ``gate`` removed, items otherwise kept as written."""
    return join([item for item in items(value) if item.partition("=")[0].strip() != gate])


def item_matches(item: str, wanted: str) -> bool:
    """``Name`` matches ``Name``; ``Gate=false`` matches ``Gate=False`` (map items hold booleans)."""
    if "=" in wanted and "=" in item:
        key, _, setting = item.partition("=")
        wanted_key, _, wanted_setting = wanted.partition("=")
        return key.strip() == wanted_key.strip() and same(setting, wanted_setting)
    return item == wanted


def has_item(value: str | None, wanted: str) -> bool:
    return any(item_matches(item, wanted) for item in items(value))


def whole_number(value: str | None) -> int | None:
    """A base-10 integer as the binaries parse one, or None."""
    if value is None:
        return None
    text = value.strip()
    if text[:1] in "+-":
        sign, digits = text[0], text[1:]
    else:
        sign, digits = "", text
    return int(sign + digits) if digits.isdigit() else None


def mode_within(actual: int, maximum: int) -> bool:
    """kube-bench's bitmask: ``actual`` is ``maximum`` or stricter when it sets no bit ``maximum`` does not."""
    return actual & ~maximum == 0


def tightened(actual: int, maximum: int) -> int:
    """The mode with every bit ``maximum`` does not allow cleared (never loosens)."""
    return actual & maximum


def tls_rank(value: str | None) -> int | None:
    """10-13 for TLS 1.0-1.3 in any spelling (``VersionTLS12``, ``TLS1.2``, ``1.2``); None when unknown."""
    if value is None:
        return None
    return _TLS_RANK.get(value.strip())


def tls_spelling(component: str, version: str) -> str:
    """How ``--tls-min-version`` is spelled for a component: ``TLS1.2`` for etcd, ``VersionTLS12`` otherwise.

    The spellings are not interchangeable; the wrong one stops the component at start.
    """
    if version not in TLS_VERSIONS:
        raise ValueError(f"TLS version {version!r} is not one of {', '.join(TLS_VERSIONS)}")
    if component == "etcd":
        return f"TLS{version}"
    if component not in _KUBE_TLS:
        raise ValueError(
            f"no TLS version spelling is known for component {component!r}: expected etcd or one of "
            f"{', '.join(sorted(_KUBE_TLS))}"
        )
    return "VersionTLS" + version.replace(".", "")


def same_tls_family(component: str, value: str) -> bool:
    """Whether ``value`` is spelled the way ``component`` reads TLS versions."""
    return value.strip().startswith("TLS1.") if component == "etcd" else value.strip().startswith("VersionTLS")
