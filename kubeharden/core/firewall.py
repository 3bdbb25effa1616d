"""The per-role nftables firewall: the ruleset model built from the inventory and the profile, and its rendering.

kubeharden owns one nftables table, `inet kubeharden` (IPv4 and IPv6), and redefines only that table: tables the
CNI or kube-proxy manage are never flushed. Its input chain drops by default and accepts: loopback, established and
related traffic, ICMPv6 neighbour discovery (IPv6 stops working without it), ICMP as the profile says, SSH from the
admin CIDRs, the kube-apiserver's real port from the admin CIDRs, the nodes and the load balancers (control plane),
etcd 2379-2380 and the kubelet 10250 from the control-plane nodes, kube-proxy health 10256 from the load balancers,
the NodePort range on the roles the profile names, the CNI preset's ports between nodes and custom rules. The
controller-manager (10257) and scheduler (10259) are reachable from the node itself only. Pure logic, no I/O.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

TABLE = "kubeharden"
FAMILY = "inet"
TEMPLATE = "etc/nftables.d/kubeharden.nft.j2"
PERSIST_PATH = "/etc/nftables.d/kubeharden.nft"
NFTABLES_CONF = "/etc/nftables.conf"
STATE_DIR = "/var/lib/kubeharden/firewall"
STATE_FILE = f"{STATE_DIR}/state.json"
"""What kubeharden recorded after its last confirmed load (rendered and loaded digests)."""
REVERT_UNIT = "kubeharden-fw-revert"
ROLES = ("control_plane", "workers")
ICMP_MODES = ("echo", "all", "none")
SOURCES = ("any", "admin", "nodes", "control_plane", "workers", "load_balancers")

ETCD_PORTS = "2379-2380"
KUBELET_PORT = "10250"
KUBE_PROXY_HEALTH_PORT = "10256"

CNI_PRESETS: Mapping[str, tuple[tuple[str, str], ...]] = {
    # (protocol, port or range); "ipip" is IP protocol 4 and "icmp" echo requests (no port).
    "none": (),
    "calico": (("tcp", "179"), ("ipip", ""), ("udp", "4789"), ("tcp", "5473"), ("udp", "51820-51821")),
    "cilium": (
        ("udp", "8472"),
        ("udp", "6081"),
        ("tcp", "4240"),
        ("icmp", ""),
        ("tcp", "4244-4245"),
        ("udp", "51871"),
    ),
    "flannel": (("udp", "8472"), ("udp", "51820-51821")),
}
"""CNI data-plane ports (docs/pitfalls.md, from each CNI's requirements page), open between the cluster's nodes only."""


class FirewallError(ValueError):
    """A firewall setting is invalid; the message names the setting and what is wrong."""


@dataclass(frozen=True)
class Node:
    """One host of the inventory as the firewall sees it."""

    name: str
    address: str
    role: str


@dataclass(frozen=True)
class Rule:
    """One accept rule: traffic of `protocol` to `ports` from `sources` (empty: from anywhere) of one family."""

    comment: str
    protocol: str
    ports: str = ""
    sources: tuple[str, ...] = ()
    family: str = ""

    def render(self) -> str:
        parts: list[str] = []
        if self.sources:
            parts.append(f"{self.family} saddr {{ {', '.join(self.sources)} }}")
        if self.protocol == "ipip":
            parts.append("meta l4proto ipip")
        elif self.protocol == "icmp":
            parts.append("icmpv6 type echo-request" if self.family == "ip6" else "icmp type echo-request")
        else:
            parts.append(f"{self.protocol} dport {self.ports}")
        return " ".join(parts) + f' accept comment "{self.comment}"'


@dataclass(frozen=True)
class Ruleset:
    """The whole table for one host."""

    host: str
    role: str
    icmp: str
    rules: tuple[Rule, ...] = field(default_factory=tuple)
    settings_comment: str = ""


def parse_ports(value: str, what: str) -> str:
    """A port (`"443"`) or range (`"30000-32767"`) as nft writes it; FirewallError when out of 1-65535."""
    text = str(value).strip()
    low, dash, high = text.partition("-")
    try:
        first, last = int(low), int(high) if dash else int(low)
    except ValueError as exc:
        raise FirewallError(f"{what}: {value!r} is not a port or a port range like 30000-32767") from exc
    if not (1 <= first <= 65535 and 1 <= last <= 65535) or last < first:
        raise FirewallError(f"{what}: {value!r} is out of range (ports are 1-65535, a range low-high)")
    return f"{first}-{last}" if dash and last != first else str(first)


def parse_cidr(value: str, what: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(str(value).strip(), strict=False)
    except ValueError as exc:
        raise FirewallError(f"{what}: {value!r} is not an IP address or CIDR (like 192.0.2.10/32)") from exc


def parse_custom_rule(text: str, what: str) -> tuple[str, str, str]:
    """`"tcp 9100 from nodes"` -> (protocol, ports, source). Sources: a CIDR or one of SOURCES; default any."""
    words = str(text).split()
    if len(words) not in (2, 4) or (len(words) == 4 and words[2] != "from"):
        raise FirewallError(f"{what}: {text!r} must read 'PROTO PORT[-PORT] [from SOURCE]', like 'tcp 9100 from nodes'")
    protocol = words[0].lower()
    if protocol not in ("tcp", "udp"):
        raise FirewallError(f"{what}: {text!r}: the protocol must be tcp or udp")
    ports = parse_ports(words[1], what)
    source = words[3] if len(words) == 4 else "any"
    if source not in SOURCES:
        parse_cidr(source, f"{what}: {text!r}: the source")
    return protocol, ports, source


def check_settings(profile: Mapping[str, Any], where: str) -> list[str]:
    """Every problem of the firewall settings of one host's profile, as sentences (empty: valid)."""
    problems: list[str] = []
    enabled = profile.get("kubeharden_firewall_enabled") is True and "firewall" not in (
        profile.get("kubeharden_waivers") or {}
    )
    for key in ("kubeharden_firewall_admin_cidrs", "kubeharden_firewall_load_balancers"):
        for item in profile.get(key) or []:
            try:
                net = parse_cidr(item, f"{where}: {key}")
            except FirewallError as exc:
                problems.append(str(exc))
                continue
            if net.prefixlen == 0:
                problems.append(
                    f"{where}: {key} has {item!r}, which admits every address and makes the ACL no ACL: list the "
                    "networks the traffic really comes from, or waive the area 'firewall' with a reason"
                )
    if enabled and not profile.get("kubeharden_firewall_admin_cidrs"):
        problems.append(
            f"{where}: kubeharden_firewall_admin_cidrs is empty while the firewall is on: nobody could reach SSH; "
            "list the addresses the operator connects from (e.g. ['192.0.2.10/32']), or waive the area 'firewall'"
        )
    cni = profile.get("kubeharden_firewall_cni")
    if cni not in CNI_PRESETS:
        problems.append(f"{where}: kubeharden_firewall_cni must be one of {', '.join(CNI_PRESETS)}, got {cni!r}")
    try:
        key = "kubeharden_firewall_nodeport_range"
        parse_ports(str(profile.get(key)), f"{where}: {key}")
    except FirewallError as exc:
        problems.append(str(exc))
    unknown_roles = [r for r in profile.get("kubeharden_firewall_nodeport_roles") or [] if r not in ROLES]
    if unknown_roles:
        problems.append(
            f"{where}: kubeharden_firewall_nodeport_roles names {', '.join(map(repr, unknown_roles))}; "
            f"roles are {', '.join(ROLES)}"
        )
    if profile.get("kubeharden_firewall_icmp") not in ICMP_MODES:
        problems.append(
            f"{where}: kubeharden_firewall_icmp must be one of {', '.join(ICMP_MODES)}, "
            f"got {profile.get('kubeharden_firewall_icmp')!r}"
        )
    for item in profile.get("kubeharden_firewall_custom_rules") or []:
        try:
            parse_custom_rule(item, f"{where}: kubeharden_firewall_custom_rules")
        except FirewallError as exc:
            problems.append(str(exc))
    timeout = profile.get("kubeharden_firewall_confirm_timeout")
    if isinstance(timeout, int) and not 15 <= timeout <= 600:
        problems.append(f"{where}: kubeharden_firewall_confirm_timeout must be 15-600 seconds, got {timeout}")
    ssh_port = profile.get("kubeharden_firewall_ssh_port")
    if not isinstance(ssh_port, int) or isinstance(ssh_port, bool) or not 1 <= ssh_port <= 65535:
        problems.append(f"{where}: kubeharden_firewall_ssh_port must be 1-65535, got {ssh_port!r}")
    return problems


def _split(addresses: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """Addresses/CIDRs by nft family (`ip`, `ip6`), normalised, sorted, without duplicates."""
    found: dict[str, set[Any]] = {"ip": set(), "ip6": set()}
    for item in addresses:
        net = ipaddress.ip_network(str(item).strip(), strict=False)
        found["ip" if net.version == 4 else "ip6"].add(net)
    return {
        family: tuple(str(n.network_address) if n.num_addresses == 1 else str(n) for n in sorted(nets))
        for family, nets in found.items()
    }


def build_ruleset(
    me: Node, nodes: Sequence[Node], profile: Mapping[str, Any], apiserver_port: int | None = None
) -> Ruleset:
    """The table for host `me` among `nodes` (the whole inventory). `apiserver_port` matters on control planes."""
    problems = check_settings(profile, f"host {me.name}")
    if problems:
        raise FirewallError("; ".join(problems))
    groups: dict[str, list[str]] = {
        "any": [],
        "admin": list(profile["kubeharden_firewall_admin_cidrs"]),
        "nodes": [n.address for n in nodes],
        "control_plane": [n.address for n in nodes if n.role == "control_plane"],
        "workers": [n.address for n in nodes if n.role == "workers"],
        "load_balancers": list(profile["kubeharden_firewall_load_balancers"]),
    }
    rules: list[Rule] = []

    def allow(comment: str, protocol: str, ports: str, *sources: str) -> None:
        if not sources:
            rules.append(Rule(comment, protocol, ports))
            return
        addresses = [a for s in sources for a in groups.get(s, [s])]
        for family, found in _split(addresses).items():
            if found:
                rules.append(Rule(comment, protocol, ports, found, family))

    allow("ssh from the admin CIDRs", "tcp", str(profile["kubeharden_firewall_ssh_port"]), "admin")
    if me.role == "control_plane":
        port = str(apiserver_port or 6443)
        sources = ("admin", "nodes", "load_balancers")
        allow(f"kube-apiserver {port} from admin, nodes, load balancers", "tcp", port, *sources)
        allow("etcd client and peer from the control plane", "tcp", ETCD_PORTS, "control_plane")
    allow("kubelet API from the control plane", "tcp", KUBELET_PORT, "control_plane")
    if profile["kubeharden_firewall_load_balancers"]:
        allow("kube-proxy health from the load balancers", "tcp", KUBE_PROXY_HEALTH_PORT, "load_balancers")
    if me.role in profile["kubeharden_firewall_nodeport_roles"]:
        nodeports = parse_ports(str(profile["kubeharden_firewall_nodeport_range"]), "nodeport range")
        allow("NodePort services", "tcp", nodeports)
        allow("NodePort services", "udp", nodeports)
    cni = str(profile["kubeharden_firewall_cni"])
    for protocol, ports in CNI_PRESETS[cni]:
        allow(f"{cni} {protocol} {ports}".strip() + " between nodes", protocol, ports, "nodes")
    for index, text in enumerate(profile["kubeharden_firewall_custom_rules"]):
        protocol, ports, source = parse_custom_rule(text, "custom rule")
        comment = f"custom rule {index + 1}: {protocol} {ports} from {source}"
        if source == "any":
            allow(comment, protocol, ports)
        else:
            allow(comment, protocol, ports, source)
    return Ruleset(me.name, me.role, str(profile["kubeharden_firewall_icmp"]), tuple(rules))


def render(ruleset: Ruleset) -> str:
    """The nft file: declares our table, deletes it and defines it again, so loading it replaces only our table."""
    from kubeharden.core.templates import render_text

    return render_text(TEMPLATE, table=TABLE, family=FAMILY, ruleset=ruleset, rules=[r.render() for r in ruleset.rules])


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def normalise_loaded(nft_json: str | Mapping[str, Any] | None) -> str | None:
    """A stable digest of our table as the kernel holds it (`nft -j list table inet kubeharden`): object handles
    and the metainfo record are dropped, so only the rules themselves count. None when the table is not loaded."""
    if nft_json is None:
        return None
    try:
        document = json.loads(nft_json) if isinstance(nft_json, str) else dict(nft_json)
    except json.JSONDecodeError:
        return None
    items = document.get("nftables") if isinstance(document, dict) else None
    if not isinstance(items, list):
        return None

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "handle"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    kept = [strip(item) for item in items if isinstance(item, dict) and "metainfo" not in item]
    if not any("table" in item for item in kept):
        return None
    return hashlib.sha256(json.dumps(kept, sort_keys=True).encode()).hexdigest()


def input_policy(nft_json: str | Mapping[str, Any] | None) -> tuple[bool, str | None, int]:
    """(our table is loaded, the input chain's policy, the number of rules in our table) from `nft -j` output."""
    if nft_json is None:
        return False, None, 0
    try:
        document = json.loads(nft_json) if isinstance(nft_json, str) else dict(nft_json)
    except json.JSONDecodeError:
        return False, None, 0
    items = document.get("nftables") or [] if isinstance(document, dict) else []
    table = policy = None
    count = 0
    for item in items:
        if not isinstance(item, dict):
            continue
        if "table" in item and item["table"].get("name") == TABLE and item["table"].get("family") == FAMILY:
            table = True
        chain = item.get("chain")
        if isinstance(chain, dict) and chain.get("table") == TABLE and chain.get("hook") == "input":
            policy = str(chain.get("policy")) if chain.get("policy") else None
        rule = item.get("rule")
        if isinstance(rule, dict) and rule.get("table") == TABLE:
            count += 1
    return bool(table), policy, count
