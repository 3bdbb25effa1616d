"""The firewall's pure parts: the ruleset model per role, its rendering, settings validation, loaded-state digests."""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest

from kubeharden.core.firewall import (
    CNI_PRESETS,
    FirewallError,
    Node,
    build_ruleset,
    check_settings,
    input_policy,
    normalise_loaded,
    parse_custom_rule,
    parse_ports,
    render,
)
from kubeharden.core.judge import judge_host
from kubeharden.core.profile import DEFAULTS
from kubeharden.core.state import HostState

NODES = [
    Node("cp1", "10.1.0.2", "control_plane"),
    Node("cp2", "10.1.0.3", "control_plane"),
    Node("w1", "10.1.0.4", "workers"),
    Node("w2", "10.1.0.5", "workers"),
]


def profile(**overrides: Any) -> dict[str, Any]:
    return {**DEFAULTS, "kubeharden_firewall_admin_cidrs": ["192.0.2.10/32", "2001:db8::/64"], **overrides}


def rules_of(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if " accept" in line or " drop" in line]


def find(rules: list[str], port: str) -> list[str]:
    return [r for r in rules if f"dport {port} " in r]


def test_control_plane_ruleset_follows_the_port_matrix() -> None:
    text = render(build_ruleset(NODES[0], NODES, profile(), apiserver_port=6443))
    rules = rules_of(text)
    assert "policy drop;" in text and "hook input" in text
    assert any(r.startswith('iif "lo" accept') for r in rules)
    assert any(r.startswith("ct state established,related accept") for r in rules)
    assert any("nd-neighbor-solicit" in r and "nd-neighbor-advert" in r for r in rules)
    ssh = find(rules, "22")
    assert ssh == [
        'ip saddr { 192.0.2.10 } tcp dport 22 accept comment "ssh from the admin CIDRs"',
        'ip6 saddr { 2001:db8::/64 } tcp dport 22 accept comment "ssh from the admin CIDRs"',
    ]
    api = find(rules, "6443")
    assert "ip saddr { 10.1.0.2, 10.1.0.3, 10.1.0.4, 10.1.0.5, 192.0.2.10 }" in api[0]
    assert "2001:db8::/64" in api[1]
    etcd = find(rules, "2379-2380")
    assert len(etcd) == 1 and "{ 10.1.0.2, 10.1.0.3 }" in etcd[0]
    kubelet = find(rules, "10250")
    assert len(kubelet) == 1 and "{ 10.1.0.2, 10.1.0.3 }" in kubelet[0]
    for closed in ("10257", "10259", "30000-32767", "10256", "8080", "2381", "10248"):
        assert not find(rules, closed), closed


def test_worker_ruleset_opens_nodeports_and_kubelet_from_the_control_plane_only() -> None:
    rules = rules_of(render(build_ruleset(NODES[2], NODES, profile())))
    assert find(rules, "30000-32767") == [
        'tcp dport 30000-32767 accept comment "NodePort services"',
        'udp dport 30000-32767 accept comment "NodePort services"',
    ]
    assert not find(rules, "6443") and not find(rules, "2379-2380")
    assert "{ 10.1.0.2, 10.1.0.3 }" in find(rules, "10250")[0]


def test_the_apiserver_port_is_the_real_one() -> None:
    rules = rules_of(render(build_ruleset(NODES[0], NODES, profile(), apiserver_port=8443)))
    assert find(rules, "8443") and not find(rules, "6443")


def test_nodeport_roles_icmp_and_load_balancers_follow_the_profile() -> None:
    p = profile(
        kubeharden_firewall_nodeport_roles=[],
        kubeharden_firewall_icmp="none",
        kubeharden_firewall_load_balancers=["198.51.100.0/28"],
    )
    worker = render(build_ruleset(NODES[2], NODES, p))
    assert "30000-32767" not in worker and "echo-request" not in worker
    assert "nd-neighbor-solicit" in worker  # IPv6 neighbour discovery whatever ICMP says
    assert "198.51.100.0/28" in find(rules_of(worker), "10256")[0]
    cp = rules_of(render(build_ruleset(NODES[0], NODES, p, 6443)))
    assert "198.51.100.0/28" in find(cp, "6443")[0]
    everything = render(build_ruleset(NODES[2], NODES, profile(kubeharden_firewall_icmp="all")))
    assert "meta l4proto { icmp, ipv6-icmp } accept" in everything


@pytest.mark.parametrize("cni", sorted(CNI_PRESETS))
def test_cni_presets_open_their_ports_between_nodes_only(cni: str) -> None:
    rules = rules_of(render(build_ruleset(NODES[2], NODES, profile(kubeharden_firewall_cni=cni))))
    cni_rules = [r for r in rules if f'"{cni} ' in r]
    assert len(cni_rules) == len(CNI_PRESETS[cni])
    assert all(r.startswith("ip saddr { 10.1.0.2, 10.1.0.3, 10.1.0.4, 10.1.0.5 }") for r in cni_rules)


def test_calico_cilium_flannel_ports() -> None:
    calico = render(build_ruleset(NODES[2], NODES, profile(kubeharden_firewall_cni="calico")))
    assert "tcp dport 179 " in calico and "meta l4proto ipip" in calico and "udp dport 4789 " in calico
    cilium = render(build_ruleset(NODES[2], NODES, profile(kubeharden_firewall_cni="cilium")))
    assert "udp dport 8472 " in cilium and "tcp dport 4240 " in cilium and "icmp type echo-request" in cilium
    flannel = render(build_ruleset(NODES[2], NODES, profile(kubeharden_firewall_cni="flannel")))
    assert "udp dport 8472 " in flannel and "udp dport 51820-51821 " in flannel


def test_custom_rules() -> None:
    p = profile(kubeharden_firewall_custom_rules=["tcp 9100 from nodes", "udp 5000-5010", "tcp 443 from 10.9.0.0/16"])
    rules = rules_of(render(build_ruleset(NODES[2], NODES, p)))
    assert "{ 10.1.0.2, 10.1.0.3, 10.1.0.4, 10.1.0.5 }" in find(rules, "9100")[0]
    assert find(rules, "5000-5010")[0].startswith("udp dport 5000-5010 accept")
    assert "{ 10.9.0.0/16 }" in find(rules, "443")[0]
    assert parse_custom_rule("TCP 80 from admin", "x") == ("tcp", "80", "admin")


def test_only_our_table_is_redefined() -> None:
    text = render(build_ruleset(NODES[0], NODES, profile(), 6443))
    statements = [line for line in text.splitlines() if line and not line.startswith(("#", "\t", "}"))]
    assert statements == ["table inet kubeharden", "delete table inet kubeharden", "table inet kubeharden {"]
    assert "flush ruleset" not in text


def test_rendering_is_deterministic() -> None:
    shuffled = list(reversed(NODES))
    assert render(build_ruleset(NODES[0], NODES, profile(), 6443)) == render(
        build_ruleset(NODES[0], shuffled, profile(), 6443)
    )


@pytest.mark.skipif(shutil.which("nft") is None or shutil.which("unshare") is None, reason="needs nft and unshare")
def test_nft_accepts_the_rendered_files_and_other_tables_survive(tmp_path: Any) -> None:
    """Load into a throwaway network namespace: the syntax is nft's, and a reload keeps `table inet other`."""
    path = tmp_path / "kh.nft"
    p = profile(kubeharden_firewall_cni="calico", kubeharden_firewall_custom_rules=["udp 53 from any"])
    path.write_text(render(build_ruleset(NODES[0], NODES, p, 6443)))
    script = (
        f"nft -c -f {path} && nft add table inet other && nft add chain inet other c && "
        f"nft add rule inet other c counter && nft -f {path} && nft -f {path} && nft -j list ruleset"
    )
    proc = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, check=False)
    if proc.returncode != 0 and "Operation not permitted" in proc.stderr:
        pytest.skip("no permission for network namespaces here")
    assert proc.returncode == 0, proc.stderr
    document = json.loads(proc.stdout)
    tables = [i["table"]["name"] for i in document["nftables"] if "table" in i]
    assert sorted(tables) == ["kubeharden", "other"]
    assert any("rule" in i and i["rule"]["table"] == "other" for i in document["nftables"])
    loaded, policy, rules = input_policy(proc.stdout)
    assert loaded and policy == "drop" and rules > 10


def _nft_json(extra_rule: bool = False, handle: int = 1) -> str:
    rules = [{"rule": {"family": "inet", "table": "kubeharden", "chain": "input", "handle": handle + 2, "expr": []}}]
    if extra_rule:
        rules.append({"rule": {"family": "inet", "table": "kubeharden", "chain": "input", "handle": 9, "expr": [1]}})
    return json.dumps(
        {
            "nftables": [
                {"metainfo": {"version": "1.0.6"}},
                {"table": {"family": "inet", "name": "kubeharden", "handle": handle}},
                {"chain": {"family": "inet", "table": "kubeharden", "hook": "input", "policy": "drop"}},
                *rules,
            ]
        }
    )


def test_loaded_digest_ignores_handles_but_sees_added_rules() -> None:
    assert normalise_loaded(_nft_json(handle=1)) == normalise_loaded(_nft_json(handle=40))
    assert normalise_loaded(_nft_json()) != normalise_loaded(_nft_json(extra_rule=True))
    assert normalise_loaded(None) is None and normalise_loaded("not json") is None
    assert input_policy(_nft_json()) == (True, "drop", 1)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"kubeharden_firewall_admin_cidrs": []}, ["admin_cidrs is empty"]),
        ({"kubeharden_firewall_admin_cidrs": ["10.0.0.0/33"]}, ["10.0.0.0/33", "not an IP address"]),
        ({"kubeharden_firewall_cni": "weave"}, ["weave", "calico, cilium, flannel"]),
        ({"kubeharden_firewall_nodeport_range": "30000-70000"}, ["out of range"]),
        ({"kubeharden_firewall_nodeport_roles": ["etcd"]}, ["'etcd'"]),
        ({"kubeharden_firewall_icmp": "some"}, ["kubeharden_firewall_icmp"]),
        ({"kubeharden_firewall_custom_rules": ["sctp 9 from nodes"]}, ["tcp or udp"]),
        ({"kubeharden_firewall_custom_rules": ["tcp 9 from everywhere"]}, ["everywhere"]),
        ({"kubeharden_firewall_ssh_port": 0}, ["ssh_port"]),
        ({"kubeharden_firewall_confirm_timeout": 3600}, ["15-600"]),
    ],
)
def test_bad_settings_are_sentences(overrides: dict[str, Any], words: list[str]) -> None:
    problems = " ".join(check_settings(profile(**overrides), "host cp1"))
    assert "host cp1" in problems
    for word in words:
        assert word in problems
    with pytest.raises(FirewallError):
        build_ruleset(NODES[0], NODES, profile(**overrides), 6443)


def test_a_waived_firewall_needs_no_admin_cidrs() -> None:
    p = {**DEFAULTS, "kubeharden_waivers": {"firewall": "cloud security groups do this"}}
    assert check_settings(p, "h") == []


def test_parse_ports() -> None:
    assert parse_ports("30000-32767", "x") == "30000-32767"
    assert parse_ports("443", "x") == "443"
    assert parse_ports("80-80", "x") == "80"
    for bad in ("0", "65536", "20-10", "http"):
        with pytest.raises(FirewallError):
            parse_ports(bad, "x")


def test_judge_reads_the_collected_firewall_state() -> None:
    state = HostState("w1", "workers", "10.1.0.4")
    state.firewall = {
        "loaded": _nft_json(),
        "persist": {"exists": True, "mode": "600", "uid": 0},
        "include": True,
        "service": "enabled",
    }
    results = {r.control_id: r for r in judge_host(state)}
    assert results["KH-FW-TABLE"].status.value == "PASS"
    assert results["KH-FW-PERSIST"].status.value == "PASS"
    state.firewall = {"loaded": None, "persist": {"exists": False}, "include": False, "service": "disabled"}
    results = {r.control_id: r for r in judge_host(state)}
    assert results["KH-FW-TABLE"].status.value == "FAIL"
    assert results["KH-FW-PERSIST"].status.value == "FAIL"
    assert "nftables.service is disabled" in results["KH-FW-PERSIST"].observed


def test_the_confirmation_uses_a_new_ssh_connection_with_strict_host_keys() -> None:
    from kubeharden.host.nftables import new_ssh_argv

    data = {"ssh_hostname": "10.1.0.2", "ssh_config_file": "/lab/ssh_config", "ssh_known_hosts_file": "/lab/kh"}
    argv = new_ssh_argv(data, "cp1", "true", connect_timeout=7)
    joined = " ".join(argv)
    assert argv[:3] == ["ssh", "-F", "/lab/ssh_config"]
    assert "ControlMaster=no" in joined and "ControlPath=none" in joined  # never a multiplexed connection
    assert "StrictHostKeyChecking=yes" in joined and "UserKnownHostsFile=/lab/kh" in joined
    assert "ConnectTimeout=7" in joined and "ConnectTimeout=10" not in joined  # one value, the caller's
    assert argv[-3:] == ["--", "10.1.0.2", "true"]
