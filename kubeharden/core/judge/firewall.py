"""Firewall tests: kubeharden's nftables table as loaded (input policy drop) and persisted (included from
/etc/nftables.conf, nftables.service enabled)."""

from __future__ import annotations

from kubeharden.core import values
from kubeharden.core.catalog.model import FirewallTest
from kubeharden.core.firewall import PERSIST_PATH, input_policy
from kubeharden.core.judge.outcome import Context, Outcome
from kubeharden.core.results import Status
from kubeharden.core.state import HostState

_Outcome = Outcome


def _firewall_test(state: HostState, which: str) -> _Outcome:
    """KH-FW-TABLE: our table is loaded with an input policy of drop; KH-FW-PERSIST: it survives a reboot."""
    data = state.firewall
    if data is None:
        return _Outcome(Status.WARN, "", "the firewall state was not collected")
    if which == "loaded":
        loaded, policy, rules = input_policy(data.get("loaded"))
        if not loaded:
            return _Outcome(Status.FAIL, "table inet kubeharden not loaded", str(data.get("nft_error") or ""))
        observed = f"table inet kubeharden loaded, input policy {policy or 'none'}, {rules} rules"
        return _Outcome(Status.PASS if policy == "drop" and rules else Status.FAIL, observed)
    persist = data.get("persist") or {}
    problems = []
    if not persist.get("exists"):
        problems.append(f"{PERSIST_PATH} missing")
    elif not (values.mode_within(int(str(persist.get("mode")), 8), 0o600) and persist.get("uid") == 0):
        problems.append(f"{PERSIST_PATH} mode {persist.get('mode')} uid {persist.get('uid')}")
    if not data.get("include"):
        problems.append("/etc/nftables.conf does not include it")
    if data.get("service") != "enabled":
        problems.append(f"nftables.service is {data.get('service') or 'unknown'}")
    if problems:
        return _Outcome(Status.FAIL, "; ".join(problems))
    return _Outcome(Status.PASS, f"{PERSIST_PATH} mode {persist.get('mode')}, included, nftables.service enabled")


def judge_firewall(ctx: Context, test: FirewallTest) -> Outcome:
    return _firewall_test(ctx.state, test.which)
