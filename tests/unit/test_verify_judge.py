"""The verification engine's pure parts against real kubeadm manifests (tests/data/kubeadm): the judge, the
collected-state model, the reports; plus remote.py run locally (it is stdlib code) and the CLI's refusal of a bad
inventory before any host is contacted."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from kubeharden.core.catalog import by_id
from kubeharden.core.collection import verify_spec
from kubeharden.core.judge import judge_control, judge_host
from kubeharden.core.manifests import load_manifest
from kubeharden.core.profile import validate_profile
from kubeharden.core.results import HostRun, LiveOutcome, Result, RunReport, Status
from kubeharden.core.state import CollectionError, HostState, host_state, parse_output
from kubeharden.faces.report import render_console, safe, to_json, to_junit, to_markdown
from kubeharden.faces.verify_cli import verify
from kubeharden.host.invoke import program_command, program_source
from kubeharden.host.onhost import collector as remote
from kubeharden.host.probes import plan
from kubeharden.host.ssh import ssh_argv, write_ssh_config
from kubeharden.host.transport import collector_command

ADMIN = {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}

DATA = Path(__file__).resolve().parents[1] / "data" / "kubeadm"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd")
KEY_MATERIAL = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


def manifest(version: str, component: str) -> str:
    return (DATA / version / f"{component}.yaml").read_text()


def kubeadm_134(component: str) -> str:
    """kubeadm 1.34.4's own manifest, as the lab's kubeadm writes it."""
    return manifest("1.34.4-lab", component)


def make_state(
    manifests: dict[str, str],
    *,
    processes: dict[str, list[str]] | None = None,
    files: dict[str, dict[str, Any]] | None = None,
    configs: dict[str, dict[str, Any]] | None = None,
    globs: dict[str, list[str]] | None = None,
    listeners: list[list[Any]] | None = None,
    env: dict[str, dict[str, str]] | None = None,
) -> HostState:
    """A HostState from the document remote.py would print for such a host."""
    components = {}
    for name in COMPONENTS:
        raw: dict[str, Any] = {"manifest_path": f"/etc/kubernetes/manifests/{name}.yaml", "processes": []}
        if name in manifests:
            raw["manifest"] = manifests[name]
        if processes and name in processes:
            raw["processes"] = [{"pid": 100 + len(name), "argv": processes[name]}]
        if env and name in env:
            raw["env"] = env[name]
        components[name] = raw
    document = {
        "format": 1,
        "hostname": "cp1",
        "components": components,
        "files": files or {},
        "configs": configs or {},
        "globs": globs or {},
        "listeners": listeners or [],
        "listeners_source": "ss -ltnH",
    }
    return host_state("cp1", "control_plane", "192.0.2.10", document)


def running(text: str) -> list[str]:
    return load_manifest(text).argv()


def st(mode: str, owner: str = "root:root", kind: str = "file") -> dict[str, Any]:
    user, group = owner.split(":")
    return {"exists": True, "mode": mode, "user": user, "group": group, "kind": kind}


def judge(state: HostState, control_id: str, **kw: Any) -> Result:
    return judge_control(state, by_id()[control_id], **kw)


def kubeadm_default(version: str) -> HostState:
    """A control plane exactly as kubeadm writes it, every component running with its manifest's flags."""
    texts = {c: manifest(version, c) for c in COMPONENTS}
    return make_state(texts, processes={c: running(t) for c, t in texts.items()})


@pytest.fixture
def default_129() -> HostState:
    return kubeadm_default("1.29.0")


@pytest.fixture(params=["1.29.0", "1.34.4-lab"])
def kubeadm_state(request: pytest.FixtureRequest) -> HostState:
    return kubeadm_default(request.param)


# ----------------------------------------------------------------------------------------------------
# Flags of a kubeadm-default control plane
# ----------------------------------------------------------------------------------------------------


def test_kubeadm_default_apiserver_fails_profiling_and_audit(kubeadm_state: HostState) -> None:
    profiling = judge(kubeadm_state, "1.2.15")
    assert profiling.status is Status.FAIL
    assert profiling.observed == "--profiling not set (default true)"
    assert profiling.expected == "false" and profiling.remediation == "set --profiling=false"
    audit = judge(kubeadm_state, "1.2.16")
    assert audit.status is Status.FAIL and "--audit-log-path not set" in audit.observed


def test_kubeadm_default_apiserver_passes_tls_and_client_ca(kubeadm_state: HostState) -> None:
    tls = judge(kubeadm_state, "1.2.24")
    assert tls.status is Status.PASS
    assert "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt" in tls.observed
    assert judge(kubeadm_state, "1.2.25").status is Status.PASS


def test_etcd_client_cert_auth_passes(kubeadm_state: HostState) -> None:
    result = judge(kubeadm_state, "2.2")
    assert result.status is Status.PASS and result.observed == "--client-cert-auth=true"
    assert judge(kubeadm_state, "KH-ETCD-URLS").status is Status.PASS
    for cid in ("1.2.6", "1.2.7", "1.2.8", "1.2.14", "1.3.7", "1.4.2", "2.1", "2.3", "2.5"):
        assert judge(kubeadm_state, cid).status is Status.PASS, cid


def test_running_process_flags_win_over_the_manifest() -> None:
    text = manifest("1.29.0", "kube-apiserver")
    state = make_state({"kube-apiserver": text}, processes={"kube-apiserver": [*running(text), "--profiling=false"]})
    assert judge(state, "1.2.15").status is Status.PASS
    stopped = make_state({"kube-apiserver": text})
    result = judge(stopped, "1.2.15")
    assert result.status is Status.FAIL and "not running: judged from its manifest" in result.reason


def test_booleans_are_compared_as_go_parses_them() -> None:
    text = manifest("1.29.0", "kube-scheduler")
    state = make_state({"kube-scheduler": text}, processes={"kube-scheduler": [*running(text), "--profiling=False"]})
    assert judge(state, "1.4.1").status is Status.PASS


def test_comma_lists_are_compared_by_item_not_substring() -> None:
    text = manifest("1.29.0", "kube-apiserver")
    argv = [w for w in running(text) if not w.startswith("--enable-admission-plugins")]
    state = make_state(
        {"kube-apiserver": text}, processes={"kube-apiserver": [*argv, "--enable-admission-plugins=NodeRestrictionX"]}
    )
    assert judge(state, "1.2.14").status is Status.FAIL
    kcm = manifest("1.29.0", "kube-controller-manager")
    gates = [*running(kcm), "--feature-gates=Foo=true,RotateKubeletServerCertificate=False"]
    assert (
        judge(
            make_state({"kube-controller-manager": kcm}, processes={"kube-controller-manager": gates}), "1.3.6"
        ).status
        is Status.FAIL
    )


def test_etcd_environment_is_read_when_the_flag_is_absent() -> None:
    text = manifest("1.29.0", "etcd")
    argv = [w for w in running(text) if not w.startswith("--client-cert-auth")]
    state = make_state({"etcd": text}, processes={"etcd": argv}, env={"etcd": {"ETCD_CLIENT_CERT_AUTH": "true"}})
    result = judge(state, "2.2")
    assert result.status is Status.PASS and "environment ETCD_CLIENT_CERT_AUTH" in result.observed
    no_env = make_state({"etcd": text}, processes={"etcd": argv})
    assert judge(no_env, "2.2").status is Status.FAIL


def test_etcd_plain_http_urls_fail() -> None:
    text = manifest("1.29.0", "etcd")
    argv = [*running(text), "--listen-client-urls=http://0.0.0.0:2379"]
    result = judge(make_state({"etcd": text}, processes={"etcd": argv}), "KH-ETCD-URLS")
    assert result.status is Status.FAIL and "http://0.0.0.0:2379" in result.reason


def test_unscored_failure_is_a_warning(default_129: HostState) -> None:
    result = judge(default_129, "1.2.5")
    assert result.status is Status.WARN and "the profile does not ask for it" in result.reason
    asked = validate_profile({"kubeharden_kubelet_serving_certs_signed": True, **ADMIN}, "h")
    result = judge(default_129, "1.2.5", profile=asked)
    assert result.status is Status.WARN and "unscored" in result.reason


def test_component_absent_is_skipped_with_a_reason() -> None:
    state = make_state({"kube-apiserver": manifest("1.29.0", "kube-apiserver")})
    result = judge(state, "2.2")
    assert result.status is Status.SKIP and "etcd is not on this host" in result.reason


# ----------------------------------------------------------------------------------------------------
# Version-aware controls
# ----------------------------------------------------------------------------------------------------

AUTHN = "/etc/kubernetes/authn/authentication-config.yaml"


def authn_state(anonymous: str | None, extra_flags: tuple[str, ...] = ()) -> HostState:
    text = kubeadm_134("kube-apiserver")
    argv = [*running(text), f"--authentication-config={AUTHN}", *extra_flags]
    config = "apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n" + (anonymous or "")
    return make_state({"kube-apiserver": text}, processes={"kube-apiserver": argv}, configs={AUTHN: {"text": config}})


HEALTH_ONLY = "anonymous:\n  enabled: true\n  conditions:\n  - path: /livez\n  - path: /readyz\n  - path: /healthz\n"


def test_anonymous_on_134_needs_an_authentication_config() -> None:
    text = kubeadm_134("kube-apiserver")
    weak = make_state({"kube-apiserver": text}, processes={"kube-apiserver": [*running(text), "--anonymous-auth=true"]})
    assert judge(weak, "1.2.1").status is Status.FAIL
    default = make_state({"kube-apiserver": text}, processes={"kube-apiserver": running(text)})
    result = judge(default, "1.2.1")
    assert result.status is Status.FAIL and "--anonymous-auth not set (default true)" in result.observed


def test_anonymous_on_134_passes_with_health_paths_only() -> None:
    result = judge(authn_state(HEALTH_ONLY), "1.2.1")
    assert result.status is Status.PASS and "/livez, /readyz, /healthz" in result.observed
    wider = judge(authn_state(HEALTH_ONLY + "  - path: /api\n"), "1.2.1")
    assert wider.status is Status.FAIL and "/api" in wider.reason
    assert judge(authn_state(None), "1.2.1").status is Status.FAIL
    assert judge(authn_state("anonymous:\n  enabled: true\n"), "1.2.1").status is Status.FAIL
    both = judge(authn_state(HEALTH_ONLY, ("--anonymous-auth=false",)), "1.2.1")
    assert both.status is Status.FAIL and "cannot be combined" in both.reason
    off = judge(authn_state("anonymous:\n  enabled: false\n"), "1.2.1")
    assert off.status is Status.WARN


def test_anonymous_before_134_defers_to_rbac_and_the_live_probe(default_129: HostState) -> None:
    result = judge(default_129, "1.2.1")
    assert result.status is Status.SKIP and "RBAC" in result.reason and "1.2.1-live" in result.reason


def test_insecure_port_is_version_aware() -> None:
    text = kubeadm_134("kube-apiserver")
    absent = make_state({"kube-apiserver": text}, processes={"kube-apiserver": running(text)})
    assert judge(absent, "KH-API-INSECURE", live={}).status is Status.PASS
    removed = make_state({"kube-apiserver": text}, processes={"kube-apiserver": [*running(text), "--insecure-port=0"]})
    result = judge(removed, "KH-API-INSECURE", live={})
    assert result.status is Status.FAIL and "no longer accepts --insecure-port" in result.reason
    listening = make_state(
        {"kube-apiserver": text}, processes={"kube-apiserver": running(text)}, listeners=[["127.0.0.1", 8080]]
    )
    assert judge(listening, "KH-API-INSECURE", live={}).status is Status.FAIL
    old = manifest("1.20.11", "kube-apiserver")
    assert judge(make_state({"kube-apiserver": old}), "KH-API-INSECURE", live={}).status is Status.PASS


def test_live_tests_use_the_probe_outcomes() -> None:
    text = kubeadm_134("kube-apiserver")
    state = make_state({"kube-apiserver": text}, processes={"kube-apiserver": running(text)})
    assert judge(state, "1.2.1-live").status is Status.SKIP
    seen = LiveOutcome(Status.FAIL, "GET /api -> 403, GET /livez -> 200")
    result = judge(state, "1.2.1-live", live={"anonymous_api": seen})
    assert result.status is Status.FAIL and result.observed == seen.observed
    closed = LiveOutcome(Status.FAIL, "192.0.2.10:8080 accepts TCP connections")
    assert judge(state, "KH-API-INSECURE", live={"insecure_port_closed": closed}).status is Status.FAIL


def test_pod_security_defaults_follow_a_relative_plugin_path() -> None:
    text = kubeadm_134("kube-apiserver")
    admission = "/etc/kubernetes/admission/admission-config.yaml"
    argv = [*running(text), f"--admission-control-config-file={admission}"]
    config = "kind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: psa.yaml\n"
    psa = "kind: PodSecurityConfiguration\ndefaults:\n  enforce: {}\n  audit: restricted\n  warn: restricted\n"

    def state_with(enforce: str) -> HostState:
        configs = {admission: {"text": config}, "/etc/kubernetes/admission/psa.yaml": {"text": psa.format(enforce)}}
        return make_state({"kube-apiserver": text}, processes={"kube-apiserver": argv}, configs=configs)

    assert judge(state_with("baseline"), "KH-API-PSA").status is Status.PASS
    assert judge(state_with("restricted"), "KH-API-PSA").status is Status.PASS
    weaker = judge(state_with("privileged"), "KH-API-PSA")
    assert weaker.status is Status.FAIL and "enforce privileged" in weaker.reason


# ----------------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "owner", "status"),
    [
        ("600", "root:root", Status.PASS),
        ("400", "root:root", Status.PASS),
        ("0", "root:root", Status.PASS),
        ("640", "root:root", Status.FAIL),
        ("644", "root:root", Status.FAIL),
        ("4600", "root:root", Status.FAIL),
        ("600", "root:adm", Status.FAIL),
    ],
)
def test_file_mode_is_a_bitmask_maximum(mode: str, owner: str, status: Status) -> None:
    state = make_state({}, files={"/etc/kubernetes/admin.conf": st(mode, owner)})
    result = judge(state, "1.1.13")
    assert result.status is status
    assert result.observed == f"/etc/kubernetes/admin.conf mode {mode}, {owner}"


def test_a_missing_file_is_skipped_with_a_reason() -> None:
    state = make_state({}, files={"/etc/kubernetes/super-admin.conf": {"exists": False}})
    result = judge(state, "1.1.13s")
    assert result.status is Status.SKIP and "does not exist" in result.observed


def test_etcd_data_dir_comes_from_the_flag() -> None:
    text = manifest("1.29.0", "etcd")
    argv = [*running(text), "--data-dir=/srv/etcd"]
    loose = make_state({"etcd": text}, processes={"etcd": argv}, files={"/srv/etcd": st("755", kind="dir")})
    result = judge(loose, "1.1.11")
    assert result.status is Status.FAIL and result.observed.startswith("/srv/etcd mode 755")
    tight = make_state({"etcd": text}, processes={"etcd": argv}, files={"/srv/etcd": st("700", kind="dir")})
    assert judge(tight, "1.1.11").status is Status.PASS


def test_glob_lists_the_offenders_and_warns_when_unscored() -> None:
    keys = ["/etc/kubernetes/pki/ca.key", "/etc/kubernetes/pki/etcd/ca.key"]
    state = make_state(
        {},
        globs={"/etc/kubernetes/pki/**/*.key": keys},
        files={keys[0]: st("600"), keys[1]: st("644")},
    )
    result = judge(state, "1.1.21")
    assert result.status is Status.WARN and "1 of 2" in result.observed and keys[1] in result.observed
    assert keys[0] not in result.observed


# ----------------------------------------------------------------------------------------------------
# Waivers and the whole host
# ----------------------------------------------------------------------------------------------------


def test_waiver_skips_with_its_reason(default_129: HostState) -> None:
    profile = validate_profile(
        {"kubeharden_waivers": {"1.2.15": "profiling needed by the perf team until Q3"}, **ADMIN}, "h"
    )
    result = judge(default_129, "1.2.15", profile=profile)
    assert result.status is Status.SKIP and result.waived
    assert result.reason == "waived: profiling needed by the perf team until Q3"
    area = validate_profile({"kubeharden_waivers": {"etcd": "external etcd managed by the storage team"}, **ADMIN}, "h")
    assert judge(default_129, "2.2", profile=area).status is Status.SKIP


def test_judge_host_covers_the_roles_controls(default_129: HostState) -> None:
    results = judge_host(default_129)
    ids = [r.control_id for r in results]
    assert "1.2.15" in ids and "2.2" in ids and len(ids) == len(set(ids))
    worker = HostState("w1", "workers", "192.0.2.20")
    assert {r.area for r in judge_host(worker)} == {"firewall", "kubelet"}


# ----------------------------------------------------------------------------------------------------
# Reports
# ----------------------------------------------------------------------------------------------------


def sample_report(default_129: HostState) -> RunReport:
    profile = validate_profile(
        {"kubeharden_waivers": {"1.2.5": "kubelets serve self-signed certificates"}, **ADMIN}, "cp1"
    )
    results = judge_host(default_129, profile)
    leaky = Result("X-1", "cp1", Status.FAIL, "leak test", "value " + KEY_MATERIAL, "none", "remove it")
    cp1 = HostRun("cp1", "control_plane", "192.0.2.10", [*results, leaky], remote_commands=1, collect_seconds=0.2)
    down = HostRun("cp2", "control_plane", "192.0.2.11", error="host cp2: SSH connection failed: timeout")
    return RunReport("inventory.py", [cp1, down], 1.5)


def test_reports_parse_and_carry_the_evidence(default_129: HostState) -> None:
    report = sample_report(default_129)
    assert report.exit_code == 2
    data = json.loads(to_json(report))
    assert data["summary"]["exit_code"] == 2 and data["summary"]["hosts"][0]["remote_commands"] == 1
    profiling = next(r for r in data["results"] if r["control_id"] == "1.2.15")
    assert profiling["status"] == "FAIL" and profiling["observed"] == "--profiling not set (default true)"
    assert data["waivers"] == [
        {"host": "cp1", "control_id": "1.2.5", "reason": "waived: kubelets serve self-signed certificates"}
    ]
    root = ET.fromstring(to_junit(report))
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"cp1", "cp2"}
    case = next(c for c in suites["cp1"].iter("testcase") if c.get("name", "").startswith("1.2.15 "))
    failure = case.find("failure")
    assert failure is not None and "remediation: set --profiling=false" in (failure.text or "")
    waived = next(c for c in suites["cp1"].iter("testcase") if c.get("name", "").startswith("1.2.5 "))
    skipped = waived.find("skipped")
    assert skipped is not None and "self-signed" in skipped.get("message", "")
    assert suites["cp2"].find("testcase/error") is not None
    markdown = to_markdown(report)
    assert "## Waivers" in markdown and "| FAIL | 1.2.15 |" in markdown
    console = render_console(report)
    assert "FAIL  1.2.15" in console and "Waivers:" in console and "COULD NOT CHECK" in console


def test_reports_never_show_key_material(default_129: HostState) -> None:
    report = sample_report(default_129)
    for text in (to_json(report), to_junit(report), to_markdown(report), render_console(report)):
        assert "BEGIN PRIVATE KEY" not in text and "MIIEvQIBADAN" not in text
        assert "[redacted]" in text
    assert safe("plain") == "plain"


def test_exit_codes() -> None:
    passed = Result("1", "h", Status.PASS, "t", "o", "e", "r")
    failed = Result("2", "h", Status.FAIL, "t", "o", "e", "r")
    assert RunReport("i", [HostRun("h", "control_plane", "a", [passed])]).exit_code == 0
    assert RunReport("i", [HostRun("h", "control_plane", "a", [passed, failed])]).exit_code == 1
    assert (
        RunReport("i", [HostRun("h", "control_plane", "a", [failed]), HostRun("g", "w", "b", error="x")]).exit_code == 2
    )


# ----------------------------------------------------------------------------------------------------
# Collection: the spec, the remote script (run locally), the output, ssh
# ----------------------------------------------------------------------------------------------------


def test_collection_spec_names_every_file_and_never_reads_the_encryption_config() -> None:
    spec = verify_spec()
    assert "/etc/kubernetes/admin.conf" in spec["stat_paths"]
    assert "/etc/kubernetes/pki/**/*.key" in spec["stat_globs"]
    assert ["etcd", "--data-dir"] in spec["stat_flags"]
    assert ["kube-apiserver", "--encryption-provider-config"] in spec["stat_flags"]
    assert ["kube-apiserver", "--encryption-provider-config"] in spec["never_read_flags"]
    assert all(flag != "--encryption-provider-config" for _, flag in spec["read_flags"])
    assert "ETCD_CLIENT_CERT_AUTH" in spec["env"]["etcd"]


def test_remote_script_runs_and_round_trips(tmp_path: Path) -> None:
    """The collector as a host runs it (the one command kubeharden sends), against a manifest directory made here."""
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    for name in COMPONENTS:
        (manifests / f"{name}.yaml").write_text(manifest("1.29.0", name))
    secret = tmp_path / "enc.yaml"
    secret.write_text("secret: " + KEY_MATERIAL)
    key = tmp_path / "server.key"
    key.write_text(KEY_MATERIAL)
    key.chmod(0o640)
    spec = dict(verify_spec())
    spec["manifest_dir"] = str(manifests)
    spec["stat_paths"] = [str(key), str(tmp_path / "absent")]
    spec["read_flags"] = [["kube-apiserver", "--tls-private-key-file"], ["kube-apiserver", "--etcd-cafile"]]
    spec["components"] = list(COMPONENTS)
    command = program_command("collector", spec).replace("python3 -c", f"{sys.executable} -c", 1)
    out = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60, check=True).stdout
    assert "BEGIN PRIVATE KEY" not in out
    document = parse_output("local", "motd line\n" + out)
    assert document["files"][str(key)]["mode"] == "640"
    assert document["files"][str(tmp_path / "absent")] == {"exists": False}
    assert document["configs"]["/etc/kubernetes/pki/apiserver.key"] == {"error": "refused to read a key file"}
    for component in document["components"].values():
        component["processes"] = []  # this machine may run lab apiservers of its own; judge the manifests
    state = host_state("local", "control_plane", "127.0.0.1", document)
    assert state.components["kube-apiserver"].manifest is not None
    assert judge(state, "1.2.15").status is Status.FAIL
    assert state.listeners_source


def test_remote_script_is_python_37_syntax() -> None:
    """Hosts run it with their own python3; nothing newer than 3.7 may be needed."""
    ast.parse(program_source("collector"), feature_version=(3, 7))
    ast.parse(program_source("apply_manifest"), feature_version=(3, 7))


def test_remote_helpers_work_without_pyyaml() -> None:
    argv = ["etcd", "--data-dir=/a", "--name", "x", "-data-dir=/b", "--bare"]
    assert remote.argv_flag(argv, "--data-dir") == "/b"
    assert remote.argv_flag(argv, "--name") == "x" and remote.argv_flag(argv, "--bare") == "true"
    text = "spec:\n  containers:\n  - command:\n    - etcd\n    - --data-dir=/var/lib/etcd\n    - '--name=cp1'\n"
    assert remote.argv_flag(remote.manifest_argv(text), "--name") == "cp1"
    assert remote.plugin_paths("plugins:\n- name: PodSecurity\n  path: psa.yaml\n", "/etc/adm") == ["/etc/adm/psa.yaml"]


def test_parse_output_refuses_what_is_not_a_result() -> None:
    with pytest.raises(CollectionError, match="printed no result"):
        parse_output("h", "bash: python3: command not found\n")
    with pytest.raises(CollectionError, match="failed on the host"):
        parse_output("h", 'KUBEHARDEN-STATE {"fatal": "KeyError: x"}\n')


def test_ssh_command_is_strict(tmp_path: Path) -> None:
    data = {
        "ssh_hostname": "192.0.2.10",
        "ssh_user": "admin",
        "ssh_port": 2222,
        "ssh_key": "/keys/id",
        "ssh_known_hosts_file": "/keys/known hosts",
    }
    argv = ssh_argv(data, "cp1", "python3 -")
    joined = " ".join(argv)
    assert "StrictHostKeyChecking=yes" in joined and "BatchMode=yes" in joined
    assert "ControlMaster=no" in joined and "ControlPath=none" in joined and "UpdateHostKeys=no" in joined
    assert 'UserKnownHostsFile="/keys/known hosts"' in argv
    assert argv[-3:] == ["--", "192.0.2.10", "python3 -"] and "-F" not in argv
    assert ssh_argv({**data, "ssh_config_file": "/lab/ssh_config"}, "cp1", "true")[1:3] == ["-F", "/lab/ssh_config"]
    assert collector_command({"_sudo": True}).startswith("sudo -n -H sh -c ")
    aliases = write_ssh_config({"cp1": ("192.0.2.10", data)}, tmp_path / "ssh_config")
    config = (tmp_path / "ssh_config").read_text()
    assert aliases == {"cp1": "kh-0"} and "StrictHostKeyChecking yes" in config and "Port 2222" in config


def test_probe_plan_reads_ports_from_flags(default_129: HostState) -> None:
    target = plan(default_129)
    assert target.apiserver_port == 6443 and target.etcd_port == 2379
    text = manifest("1.29.0", "etcd")
    local = make_state(
        {"etcd": text}, processes={"etcd": [*running(text), "--listen-client-urls=https://127.0.0.1:2379"]}
    )
    assert plan(local).etcd_port is None


def test_cli_refuses_a_bad_inventory_before_contacting_anything(tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.py"
    inventory.write_text(
        "control_plane = [('cp1', {'ssh_hostname': '192.0.2.10', 'ssh_strict_host_key_checking': 'no'})]\n"
    )
    result = CliRunner().invoke(verify, [str(inventory)])
    assert result.exit_code == 2
    assert "strict" in result.output and "nothing was contacted" in result.output
    result = CliRunner().invoke(verify, [str(tmp_path / "missing.py")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_an_unreadable_manifest_warns_instead_of_guessing() -> None:
    state = make_state({"kube-scheduler": "kind: Pod\napiVersion: v1\nspec: {}\n"})
    result = judge(state, "1.4.1")
    assert result.status is Status.WARN and "cannot judge" in result.reason
