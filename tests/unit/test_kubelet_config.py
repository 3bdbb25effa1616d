"""The kubelet's effective configuration (flags over config file), CIS 4.2 judged from it, and harden's plan of the
config file, on real kubeadm kubelet configs (tests/data/kubeadm, see its SOURCES.md)."""

from __future__ import annotations

from pathlib import Path

import yaml

from kubeharden.core import kubelet_config
from kubeharden.core.judge import judge_host
from kubeharden.core.kubelet_config import effective, flags_of, unit_command
from kubeharden.core.planning.kubelet import plan_kubelet
from kubeharden.core.profile_checks import validate_inventory
from kubeharden.core.results import Status
from kubeharden.core.state import HostState

DATA = Path(__file__).parents[1] / "data" / "kubeadm"
CONFIG = "/var/lib/kubelet/config.yaml"
UNIT = "[Service]\nExecStart=/usr/bin/kubelet\nRestart=always\n"
DROPIN = """[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""  # noqa: E501
FLAGS_ENV = 'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint=unix:///var/run/containerd/containerd.sock --node-ip=10.0.0.5"\n'  # noqa: E501
PROFILES = validate_inventory(
    {
        "cp1": (["control_plane"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}),
        "w1": (["workers"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}),
    },
    strict_forced=True,
)


def kubeadm_config() -> str:
    return (DATA / "1.22.1" / "kubelet-config.yaml").read_text()


def weak(text: str) -> str:
    """What the lab's --weak does to a kubelet config (anonymous on, AlwaysAllow, read-only port 10255)."""
    doc = yaml.safe_load(text)
    doc.setdefault("authentication", {}).setdefault("anonymous", {})["enabled"] = True
    doc.setdefault("authorization", {})["mode"] = "AlwaysAllow"
    doc["readOnlyPort"] = 10255
    return yaml.safe_dump(doc)


def worker(config: str | None, running: list[str] | None = None, extra_env: str = "") -> HostState:
    env = {"/var/lib/kubelet/kubeadm-flags.env": FLAGS_ENV, "/etc/default/kubelet": extra_env}
    state = HostState("w1", "workers", "192.0.2.20", kubelet_config=config)
    state.kubelet = effective(running, [UNIT, DROPIN], env, config, CONFIG)
    return state


def kubelet_results(state: HostState) -> dict[str, Status]:
    return {
        r.control_id: r.status
        for r in judge_host(state, PROFILES["w1"])
        if r.control_id.startswith(("4.2", "KH-KUBELET")) and r.control_id != "KH-KUBELET-live"  # probes: live
    }


def test_systemd_would_run_kubeadms_drop_in_with_its_environment_files() -> None:
    argv = unit_command([UNIT, DROPIN], {"/var/lib/kubelet/kubeadm-flags.env": FLAGS_ENV})
    flags = flags_of(argv)
    assert argv[0] == "/usr/bin/kubelet"
    assert flags["--config"] == CONFIG and flags["--node-ip"] == "10.0.0.5"
    assert flags["--kubeconfig"] == "/etc/kubernetes/kubelet.conf"


def test_a_flag_wins_over_the_config_file_and_an_absent_key_is_the_default() -> None:
    state = worker(kubeadm_config(), extra_env='KUBELET_EXTRA_ARGS="--read-only-port=10255"')
    assert state.kubelet is not None
    found = state.kubelet.setting("readOnlyPort", "--read-only-port", "0")
    assert found.value == "10255" and "flag --read-only-port" in found.where
    assert state.kubelet.setting("seccompDefault", "--seccomp-default", "false").where == "default"
    assert kubelet_config.go_value({"RotateKubeletServerCertificate": False}) == "RotateKubeletServerCertificate=false"


def test_the_weak_kubelet_fails_4_2_and_kubeadms_own_passes_what_kubeadm_sets() -> None:
    weak_results = kubelet_results(worker(weak(kubeadm_config())))
    for control in ("4.2.1", "4.2.2", "4.2.4"):
        assert weak_results[control] is Status.FAIL, control
    kubeadm = kubelet_results(worker(kubeadm_config()))
    for control in ("4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.2.5", "4.2.6", "4.2.10"):
        assert kubeadm[control] is Status.PASS, (control, kubeadm)
    assert kubeadm["4.2.13"] is Status.WARN  # unscored: podPidsLimit unset (-1: unlimited)


def test_no_kubelet_at_all_is_skipped_not_passed() -> None:
    state = HostState("w1", "workers", "192.0.2.20")
    assert set(kubelet_results(state).values()) == {Status.SKIP}


def test_harden_plans_a_config_file_that_the_judge_then_passes() -> None:
    before = worker(weak(kubeadm_config()), running=["/usr/bin/kubelet", f"--config={CONFIG}"])
    plan = plan_kubelet(before, PROFILES["w1"])
    assert plan is not None and not plan.problems, plan.problems if plan else None
    assert plan.changed and plan.running
    wanted = {"4.2.1", "4.2.2", "4.2.4", "4.2.12", "4.2.13", "4.2.14", "KH-KUBELET-TLS", "KH-KUBELET-PKD"}
    assert wanted <= set(plan.control_ids)
    after = worker(plan.after, running=["/usr/bin/kubelet", f"--config={CONFIG}"])
    results = kubelet_results(after)
    # 4.2.9 needs serving certificates (serverTLSBootstrap and CSR approval): reported, never switched on by harden
    assert results.pop("4.2.9") is Status.WARN
    assert set(results.values()) == {Status.PASS}, results
    assert any(note.startswith("4.2.9: not changed by harden") for note in plan.notes)
    doc = yaml.safe_load(plan.after)
    assert doc["readOnlyPort"] == 0 and doc["authentication"]["anonymous"]["enabled"] is False
    assert doc["tlsMinVersion"] == "VersionTLS12" and doc["podPidsLimit"] == 4096
    assert doc["cgroupDriver"] == yaml.safe_load(kubeadm_config())["cgroupDriver"]  # everything else kept
    again = plan_kubelet(after, PROFILES["w1"])
    assert again is not None and not again.changed  # idempotent
    # protectKernelDefaults: the kernel settings the kubelet needs are written and applied first
    assert doc["protectKernelDefaults"] is True and plan.sysctl is not None
    path, content = plan.sysctl
    assert path == "/etc/sysctl.d/90-kubelet.conf"
    assert "vm.overcommit_memory = 1\n" in content and "kernel.keys.root_maxbytes = 25000000\n" in content


def test_sysctls_managed_elsewhere_are_not_written() -> None:
    profiles = validate_inventory(
        {
            "cp1": (["control_plane"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}),
            "w1": (["workers"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"],
                                 "kubeharden_kubelet_kernel_sysctls": False}),
        },
        strict_forced=True,
    )  # fmt: skip
    plan = plan_kubelet(worker(kubeadm_config()), profiles["w1"])
    assert plan is not None and "KH-KUBELET-PKD" in plan.control_ids and plan.sysctl is None


def test_a_weak_flag_is_a_problem_naming_the_flag_never_a_silent_edit() -> None:
    state = worker(kubeadm_config(), extra_env='KUBELET_EXTRA_ARGS="--anonymous-auth=true"')
    plan = plan_kubelet(state, PROFILES["w1"])
    assert plan is not None
    assert any("4.2.1" in p and "remove --anonymous-auth" in p for p in plan.problems), plan.problems


def test_a_waived_control_is_not_planned() -> None:
    waived = validate_inventory(
        {
            "cp1": (["control_plane"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}),
            "w1": (["workers"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"],
                                 "kubeharden_waivers": {"4.2.14": "workloads need unconfined seccomp until Q3"}}),
        },
        strict_forced=True,
    )  # fmt: skip
    plan = plan_kubelet(worker(kubeadm_config()), waived["w1"])
    assert plan is not None and "4.2.14" not in plan.control_ids and "4.2.13" in plan.control_ids


def test_kubeadms_kubelet_config_configmap_gets_the_same_settings_and_flags_never_matter_there() -> None:
    from kubeharden.core.planning.kubelet import plan_kubelet_configmap

    plan = plan_kubelet_configmap(kubeadm_config(), PROFILES["cp1"])
    assert not plan.problems and plan.changed
    doc = yaml.safe_load(plan.after)
    assert doc["podPidsLimit"] == 4096 and doc["seccompDefault"] is True and doc["protectKernelDefaults"] is True
    assert {"4.2.13", "4.2.14", "KH-KUBELET-PKD"} <= set(plan.control_ids)
    assert not plan_kubelet_configmap(plan.after, PROFILES["cp1"]).changed  # idempotent
    broken = plan_kubelet_configmap("{not yaml", PROFILES["cp1"])
    assert broken.problems and not broken.changed
