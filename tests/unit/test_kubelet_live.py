"""The live kubelet probe (KH-KUBELET-live): what an anonymous client on a control plane got from each node's
kubelet, judged, and handed to every host of a verify run from the one control plane that probed."""

from __future__ import annotations

from kubeharden.core.judge.kubelet_live import kubelet_outcome
from kubeharden.core.profile_checks import validate_inventory
from kubeharden.core.results import HostRun, Result, Status
from kubeharden.faces.verify_run import KUBELET_LIVE, apply_kubelet_probes


def test_401_and_nothing_on_10255_pass_and_every_weakness_fails() -> None:
    closed = {"error": "connection refused"}
    assert kubelet_outcome({"anonymous": {"status": 401}, "read_only": closed}, "cp1", "10.0.0.5").status is Status.PASS
    weak = kubelet_outcome({"anonymous": {"status": 200}, "read_only": {"status": 200}}, "cp1", "10.0.0.5")
    assert weak.status is Status.FAIL and "read-only port answers" in weak.reason
    assert "from cp1: anonymous GET https://10.0.0.5:10250/pods -> HTTP 200" in weak.observed
    forbidden = kubelet_outcome({"anonymous": {"status": 403}, "read_only": closed}, "cp1", "10.0.0.5")
    assert forbidden.status is Status.FAIL and "authenticated" in forbidden.reason
    unreachable = kubelet_outcome({"anonymous": closed, "read_only": closed}, "cp1", "10.0.0.5")
    assert unreachable.status is Status.WARN  # could not be checked: never PASS, never a false FAIL
    assert kubelet_outcome(None, "-", "10.0.0.5").status is Status.WARN


def test_every_host_is_judged_from_the_control_planes_probes() -> None:
    profiles = validate_inventory(
        {
            "cp1": (["control_plane"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}),
            "w1": (["workers"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}),
        },
        strict_forced=True,
    )

    def placeholder(host: str) -> Result:
        return Result(KUBELET_LIVE, host, Status.SKIP, "t", "", "", "", "not probed yet", "kubelet")

    cp1 = HostRun("cp1", "control_plane", "10.0.0.1", [placeholder("cp1")])
    w1 = HostRun("w1", "workers", "10.0.0.2", [placeholder("w1")])
    cp1.kubelet_probes = {
        "10.0.0.1": {"anonymous": {"status": 401}, "read_only": {"error": "connection refused"}},
        "10.0.0.2": {"anonymous": {"status": 200}, "read_only": {"status": 200}},
    }
    apply_kubelet_probes([cp1, w1], profiles)
    assert cp1.results[0].status is Status.PASS
    assert w1.results[0].status is Status.FAIL and "from cp1" in w1.results[0].observed
