"""Tests of the lab static-pod runner (kubeharden_lab/guest/static_pod_runner.py).

Three layers: the pure translation of every real kubeadm manifest in tests/data/kubeadm (see SOURCES.md there),
probe and backoff semantics as state machines and against a local HTTP server, and real processes: the --exec
launcher (private mount namespace, needs root) and the whole runner as a subprocess, with a small static Go
helper standing in for the component binaries.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubeharden_lab.guest import static_pod_runner as spr

DATA = Path(__file__).resolve().parent.parent / "data" / "kubeadm"
NODE_IP = "10.231.0.11"
BIN = "/opt/kubeharden-lab/bin"
INVALID_FIXTURE = "1.21.0-hardened-encryption/kube-apiserver.yaml"
RUNNER = Path(spr.__file__).resolve()


def _pod_fixtures() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(DATA.glob("*/*.yaml")):
        doc = yaml.safe_load(path.read_text())
        if isinstance(doc, dict) and doc.get("kind") == "Pod":
            found[f"{path.parent.name}/{path.name}"] = doc
    return found


PODS = _pod_fixtures()
VALID_PODS = sorted(name for name in PODS if name != INVALID_FIXTURE)


def _container(manifest: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = manifest["spec"]["containers"][0]
    return container


def _expected_binaries(image: str, bin_root: str) -> dict[str, str]:
    """Independent of the module: the tag's version picks kubernetes-vX.Y.Z or etcd-vX.Y.Z."""
    name, tag = image.rsplit("/", 1)[-1].split(":")
    if name == "etcd":
        version = "v" + re.sub(r"-\d+$", "", tag)
        return {f"/usr/local/bin/{b}": f"{bin_root}/etcd-{version}/{b}" for b in ("etcd", "etcdctl")}
    return {f"/usr/local/bin/{name}": f"{bin_root}/kubernetes-{tag}/{name}"}


# ------------------------------------------------------------------------------------------------------------
# Every real manifest
# ------------------------------------------------------------------------------------------------------------


def test_fixture_set_is_all_there() -> None:
    assert len(PODS) >= 31, sorted(PODS)
    assert INVALID_FIXTURE in PODS
    images = {_container(m)["image"] for m in PODS.values()}
    assert "registry.k8s.io/etcd:3.5.10-0" in images
    assert (DATA / "SOURCES.md").is_file()


@pytest.mark.parametrize("name", VALID_PODS)
def test_plan_translates_every_manifest(name: str) -> None:
    manifest = PODS[name]
    container = _container(manifest)
    assert spr.validate_pod(manifest) == []
    assert spr.unknown_fields(manifest) == []
    plan = spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN, hostname="cp1")

    # argv is command + args, exactly
    assert plan.argv == list(container.get("command") or []) + list(container.get("args") or [])
    assert plan.pod == manifest["metadata"]["name"]
    assert plan.container == container["name"]

    # every hostPath volumeMount is a mount with its readOnly flag, source path and type
    volumes = {v["name"]: v["hostPath"] for v in manifest["spec"].get("volumes") or []}
    expected_mounts = []
    for vm in container.get("volumeMounts") or []:
        host_path = volumes[vm["name"]]
        src = os.path.join(host_path["path"], vm["subPath"]) if vm.get("subPath") else host_path["path"]
        dst = os.path.normpath(vm["mountPath"])  # e.g. a trailing slash in 1.17.0-hardened-kms-outofrange
        expected_mounts.append((os.path.normpath(src), dst, vm.get("readOnly") is True, host_path.get("type") or ""))
    assert [tuple(m[:4]) for m in plan.mounts] == expected_mounts
    assert all(m.dst.startswith("/") for m in plan.mounts)

    # image -> binaries of the lab
    assert plan.binaries == _expected_binaries(container["image"], BIN)
    assert plan.binaries == spr.image_binaries(container["image"], BIN)

    # probes with the kubelet's defaults; host defaults to the node IP
    for kind, field_name in spr.PROBE_FIELDS.items():
        raw = container.get(field_name)
        if raw is None:
            assert kind not in plan.probes
            continue
        probe = plan.probes[kind]
        get = raw["httpGet"]
        assert probe.action == "httpGet"
        assert probe.host == (get.get("host") or NODE_IP)
        port = get["port"]
        if isinstance(port, str):  # a named port (kubeadm 1.34: probe-port) resolves through the container's ports
            port = next(p["containerPort"] for p in container.get("ports", []) if p.get("name") == port)
        assert probe.port == port
        assert probe.path == get["path"]
        assert probe.scheme == get.get("scheme", "HTTP")
        assert probe.initial_delay == raw.get("initialDelaySeconds", 0)
        assert probe.period == raw.get("periodSeconds", 10)
        assert probe.timeout == raw.get("timeoutSeconds", 1)
        assert probe.failure_threshold == raw.get("failureThreshold", 3)
        assert probe.success_threshold == raw.get("successThreshold", 1)
    assert plan.grace_seconds == manifest["spec"].get("terminationGracePeriodSeconds", 30)
    assert plan.env["PATH"] == spr.CONTAINER_PATH


def test_kubeadm_etcd_3_5_10_maps_to_etcd_v3_5_10() -> None:
    plan = spr.plan_container(PODS["1.29.0/etcd.yaml"], node_ip=NODE_IP, bin_root=BIN, hostname="cp1")
    assert plan.binaries == {
        "/usr/local/bin/etcd": f"{BIN}/etcd-v3.5.10/etcd",
        "/usr/local/bin/etcdctl": f"{BIN}/etcd-v3.5.10/etcdctl",
    }
    assert plan.probes["liveness"].host == "127.0.0.1"  # the manifest says so
    assert plan.probes["liveness"].port == 2381


def test_probe_host_defaults_to_the_node_ip() -> None:
    manifest = yaml.safe_load((DATA / "1.29.0/kube-apiserver.yaml").read_text())
    for field_name in spr.PROBE_FIELDS.values():
        del _container(manifest)[field_name]["httpGet"]["host"]
    plan = spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN, hostname="cp1")
    assert {p.host for p in plan.probes.values()} == {NODE_IP}
    assert {p.scheme for p in plan.probes.values()} == {"HTTPS"}


def test_hand_edited_encryption_fixture_is_an_invalid_pod() -> None:
    """The real hand edit forgot `name:` on the new volume and misspelled readOnly as `readOlny`."""
    manifest = PODS[INVALID_FIXTURE]
    volumes = manifest["spec"]["volumes"]
    assert "name" not in volumes[0] and volumes[0]["hostPath"]["path"] == "/etc/kubernetes/etcd"
    errors = spr.validate_pod(manifest)
    assert "spec.volumes[0].name: Required value (a volume without a name)" in errors
    assert "spec.containers[0].volumeMounts[0].name: Not found: 'etcd' (no volume of that name)" in errors
    assert len(errors) == 2
    assert spr.unknown_fields(manifest) == ["spec.containers[0].volumeMounts[0].readOlny"]
    with pytest.raises(spr.PlanError, match=r"spec\.volumes\[0\]\.name: Required value"):
        spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN)


def test_misspelled_readonly_alone_is_ignored_with_a_warning() -> None:
    """Give the volume its name back: now the kubelet would run it, with the mount writable."""
    manifest = yaml.safe_load((DATA / INVALID_FIXTURE).read_text())
    manifest["spec"]["volumes"][0]["name"] = "etcd"
    assert spr.validate_pod(manifest) == []
    plan = spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN, hostname="cp1")
    assert plan.mounts[0][:4] == ("/etc/kubernetes/etcd", "/etc/kubernetes/etcd", False, "DirectoryOrCreate")
    assert any("readOlny" in w and "ignored" in w for w in plan.warnings)


# ------------------------------------------------------------------------------------------------------------
# Validation and translation details
# ------------------------------------------------------------------------------------------------------------


def _pod(**container: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "c",
        "image": "registry.k8s.io/kube-apiserver:v1.34.4",
        "command": ["kube-apiserver"],
    }
    base.update(container)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "kube-system"},
        "spec": {"hostNetwork": True, "containers": [base], "volumes": []},
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda m: m.update(kind="Deployment"), "kind: Unsupported value"),
        (lambda m: m.update(apiVersion="apps/v1"), "apiVersion: Unsupported value"),
        (lambda m: m["metadata"].pop("name"), "metadata.name: Required value"),
        (lambda m: m["spec"].update(containers=[]), "spec.containers: Required value"),
        (
            lambda m: m["spec"].update(volumes=[{"name": "a", "hostPath": {"path": "/a"}}] * 2),
            "spec.volumes[1].name: Duplicate value: 'a'",
        ),
        (
            lambda m: m["spec"].update(volumes=[{"name": "a", "hostPath": {"path": "etc/a"}}]),
            "spec.volumes[0].hostPath.path: Invalid value: 'etc/a': must be an absolute path",
        ),
        (
            lambda m: m["spec"].update(volumes=[{"name": "a", "hostPath": {"path": "/a", "type": "Dir"}}]),
            "spec.volumes[0].hostPath.type: Unsupported value: 'Dir'",
        ),
        (
            lambda m: m["spec"]["containers"][0].update(volumeMounts=[{"name": "x", "mountPath": "/x"}]),
            "spec.containers[0].volumeMounts[0].name: Not found: 'x'",
        ),
        (
            lambda m: (
                m["spec"].update(volumes=[{"name": "a", "hostPath": {"path": "/a"}}]),
                m["spec"]["containers"][0].update(volumeMounts=[{"name": "a", "mountPath": "a"}]),
            ),
            "spec.containers[0].volumeMounts[0].mountPath: Invalid value: 'a': must be an absolute path",
        ),
        (
            lambda m: m["spec"]["containers"][0].update(command=["kube-apiserver", "--secure-port", 6443]),
            "spec.containers[0].command: must be a list of strings",
        ),
        (
            lambda m: m["spec"]["containers"][0].update(livenessProbe={"periodSeconds": 1}),
            "spec.containers[0].livenessProbe: Required value: must specify a handler type",
        ),
        (
            lambda m: m["spec"]["containers"][0].update(livenessProbe={"httpGet": {"port": 1}, "successThreshold": 2}),
            "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1",
        ),
    ],
)
def test_validate_pod_rejects(edit: Callable[[dict[str, Any]], Any], message: str) -> None:
    manifest = _pod()
    assert spr.validate_pod(manifest) == []
    edit(manifest)
    errors = spr.validate_pod(manifest)
    assert any(message in e for e in errors), errors


def test_plan_env_workdir_subpath_named_port_and_probe_kinds() -> None:
    manifest = _pod(
        args=["--etcd=$(ETCD)", "$$(ETCD)", "$(UNSET)"],
        env=[{"name": "ETCD", "value": "https://$(POD_IP):2379"}, {"name": "POD_IP", "value": "ignored-order"}],
        workingDir="/var/lib/x",
        ports=[{"name": "probe-port", "containerPort": 10257}],
        volumeMounts=[{"name": "cfg", "mountPath": "/etc/cfg/config.yaml", "subPath": "config.yaml", "readOnly": True}],
        livenessProbe={"tcpSocket": {"port": "probe-port"}},
        readinessProbe={"exec": {"command": ["true"]}},
        startupProbe={
            "httpGet": {"port": "10257", "path": "healthz?verbose=1", "httpHeaders": [{"name": "Host", "value": "x"}]}
        },
    )
    manifest["spec"]["volumes"] = [{"name": "cfg", "hostPath": {"path": "/etc/cfg", "type": "Directory"}}]
    plan = spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN, hostname="cp1")
    # kubelet $(VAR) expansion: only variables defined earlier; $$ escapes; unknown references stay
    assert plan.env["ETCD"] == "https://$(POD_IP):2379"
    assert plan.argv == ["kube-apiserver", "--etcd=https://$(POD_IP):2379", "$(ETCD)", "$(UNSET)"]
    assert plan.env["HOSTNAME"] == "cp1"
    assert plan.workdir == "/var/lib/x"
    assert plan.mounts == [
        spr.Mount("/etc/cfg/config.yaml", "/etc/cfg/config.yaml", True, "Directory", "cfg", "config.yaml")
    ]
    assert plan.probes["liveness"] == spr.Probe(kind="liveness", action="tcpSocket", host=NODE_IP, port=10257)
    assert plan.probes["readiness"].action == "exec"
    assert any("exec" in w and "counts as success" in w for w in plan.warnings)
    startup = plan.probes["startup"]
    assert (startup.port, startup.path, startup.headers) == (10257, "/healthz?verbose=1", (("Host", "x"),))


def test_plan_flags_unknown_fields_extra_containers_and_unsupported_volumes() -> None:
    manifest = _pod(readinesProbe={"httpGet": {"port": 1}})
    manifest["spec"]["containers"].append({"name": "sidecar", "image": "registry.k8s.io/kube-proxy:v1.34.4"})
    plan = spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN, hostname="cp1")
    assert any("spec.containers[0].readinesProbe" in w for w in plan.warnings)
    assert any("runs only the first (sidecar not run)" in w for w in plan.warnings)
    manifest["spec"]["volumes"] = [{"name": "s", "secret": {"secretName": "x"}}]
    with pytest.raises(spr.PlanError, match="only hostPath and emptyDir"):
        spr.plan_container(manifest, node_ip=NODE_IP, bin_root=BIN, hostname="cp1")


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (
            "registry.k8s.io/kube-apiserver:v1.34.4",
            {"/usr/local/bin/kube-apiserver": "/b/kubernetes-v1.34.4/kube-apiserver"},
        ),
        (
            "registry.k8s.io/kube-scheduler:v1.34.4@sha256:" + "0" * 64,
            {"/usr/local/bin/kube-scheduler": "/b/kubernetes-v1.34.4/kube-scheduler"},
        ),
        (
            "registry.aliyuncs.com/google_containers/kube-controller-manager:v1.17.0",
            {"/usr/local/bin/kube-controller-manager": "/b/kubernetes-v1.17.0/kube-controller-manager"},
        ),
        (
            "registry.k8s.io/etcd:3.6.5-0",
            {"/usr/local/bin/etcd": "/b/etcd-v3.6.5/etcd", "/usr/local/bin/etcdctl": "/b/etcd-v3.6.5/etcdctl"},
        ),
        (
            "localhost:5000/etcd:3.5.10-0",
            {"/usr/local/bin/etcd": "/b/etcd-v3.5.10/etcd", "/usr/local/bin/etcdctl": "/b/etcd-v3.5.10/etcdctl"},
        ),
    ],
)
def test_image_binaries(image: str, expected: dict[str, str]) -> None:
    assert spr.image_binaries(image, "/b") == expected


@pytest.mark.parametrize(
    "image", ["nginx:1.27", "registry.k8s.io/kube-apiserver", "registry.k8s.io/kube-apiserver:latest"]
)
def test_image_the_lab_cannot_provide(image: str) -> None:
    with pytest.raises(spr.PlanError, match=re.escape(f"image {image}: ")):
        spr.image_binaries(image, "/b")


def test_missing_version_is_a_clear_sentence(tmp_path: Path) -> None:
    (tmp_path / "kubernetes-v1.34.4").mkdir()
    (tmp_path / "kubernetes-v1.34.4" / "kube-apiserver").write_text("")
    (tmp_path / "kubernetes-v1.9.0").mkdir()
    (tmp_path / "kubernetes-v1.9.0" / "kube-apiserver").write_text("")
    assert spr.missing_image_error("registry.k8s.io/kube-apiserver:v1.34.4", str(tmp_path)) is None
    assert spr.missing_image_error("registry.k8s.io/kube-apiserver:v1.33.0", str(tmp_path)) == (
        "image registry.k8s.io/kube-apiserver:v1.33.0: the lab has no kube-apiserver v1.33.0 "
        "(available: v1.9.0, v1.34.4)"
    )
    assert spr.missing_image_error("registry.k8s.io/etcd:3.6.5-0", str(tmp_path)) == (
        "image registry.k8s.io/etcd:3.6.5-0: the lab has no etcd v3.6.5 (available: none)"
    )


def test_list_manifests_runs_backups_and_skips_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "kube-apiserver.yaml").write_text("a")
    (tmp_path / "kube-apiserver.yaml.bak").write_text("b")
    (tmp_path / ".kube-apiserver.yaml.swp").write_text("c")
    (tmp_path / "subdir").mkdir()
    (tmp_path / "link.yaml").symlink_to(tmp_path / "kube-apiserver.yaml")
    assert spr.list_manifests(str(tmp_path)) == {
        "kube-apiserver.yaml": b"a",
        "kube-apiserver.yaml.bak": b"b",
        "link.yaml": b"a",
    }
    assert spr.list_manifests(str(tmp_path / "missing")) == {}


def test_read_node_ip(tmp_path: Path) -> None:
    node = tmp_path / "node.json"
    assert spr.read_node_ip(str(node)) == "127.0.0.1"
    node.write_text(json.dumps({"node_ip": "10.231.0.11", "lab": "x"}))
    assert spr.read_node_ip(str(node)) == "10.231.0.11"
    node.write_text("not json")
    assert spr.read_node_ip(str(node)) == "127.0.0.1"


# ------------------------------------------------------------------------------------------------------------
# hostPath type semantics
# ------------------------------------------------------------------------------------------------------------


def test_hostpath_types_like_the_kubelet(tmp_path: Path) -> None:
    made_dir = tmp_path / "made" / "deep"
    spr.check_hostpath(str(made_dir), "DirectoryOrCreate")
    assert made_dir.is_dir() and stat.S_IMODE(made_dir.stat().st_mode) == 0o755
    made_file = tmp_path / "made" / "file"
    spr.check_hostpath(str(made_file), "FileOrCreate")
    assert made_file.is_file() and made_file.read_text() == ""
    assert stat.S_IMODE(made_file.stat().st_mode) == 0o644 & ~_umask()
    untyped = tmp_path / "untyped"
    spr.check_hostpath(str(untyped), "")
    assert untyped.is_dir()
    spr.check_hostpath(str(made_file), "")  # no check at all
    with pytest.raises(spr.SetupError, match=f"hostPath type check failed: {tmp_path}/missing is not a directory"):
        spr.check_hostpath(str(tmp_path / "missing"), "Directory")
    with pytest.raises(spr.SetupError, match="is not a file"):
        spr.check_hostpath(str(made_dir), "File")
    with pytest.raises(spr.SetupError, match="is not a file"):
        spr.check_hostpath(str(made_dir), "FileOrCreate")
    with pytest.raises(spr.SetupError, match="is not a directory"):
        spr.check_hostpath(str(made_file), "DirectoryOrCreate")
    with pytest.raises(spr.SetupError, match="is not a socket file"):
        spr.check_hostpath(str(made_file), "Socket")
    with pytest.raises(spr.SetupError, match="is not a block device"):
        spr.check_hostpath("/dev/null", "BlockDevice")
    spr.check_hostpath("/dev/null", "CharDevice")
    with pytest.raises(spr.SetupError, match="cannot create"):
        spr.check_hostpath(str(tmp_path / "no-parent" / "file"), "FileOrCreate")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------------------------------------------------
# Probe and restart semantics
# ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "ok"),
    [
        (200, True),
        (204, True),
        (302, True),
        (399, True),
        (199, False),
        (400, False),
        (401, False),
        (403, False),
        (500, False),
    ],
)
def test_probe_result(code: int, ok: bool) -> None:
    assert spr.probe_result(code) is ok


def _probe(kind: str, **kw: Any) -> spr.Probe:
    return spr.Probe(kind=kind, action="httpGet", host="127.0.0.1", **{"port": 1, **kw})


def test_startup_runs_first_then_liveness_and_readiness() -> None:
    state = spr.ProbeState(
        {
            "startup": _probe("startup", period=1, failure_threshold=3),
            "liveness": _probe("liveness", period=1, failure_threshold=2),
            "readiness": _probe("readiness", period=1, failure_threshold=2),
        },
        started_at=100.0,
    )
    assert not state.started and not state.ready
    assert state.due(100.0) == ["startup"]
    state.launched("startup", 100.0)
    assert state.due(100.5) == []
    assert state.record("startup", False, "connection refused") is None
    assert state.record("startup", False, "connection refused") is None
    assert state.due(101.0) == ["startup"]
    assert state.record("startup", True, "") is None
    assert state.started and not state.ready  # readiness must pass first
    assert state.due(101.0) == ["liveness", "readiness"]  # the startup probe does not run any more
    assert state.record("readiness", True, "") is None
    assert state.ready
    assert state.record("readiness", False, "HTTP probe failed with statuscode: 500") is None
    assert state.ready  # below failureThreshold
    assert state.record("readiness", False, "HTTP probe failed with statuscode: 500") is None
    assert not state.ready  # readiness never restarts
    assert state.record("liveness", False, "HTTP probe failed with statuscode: 401") is None
    assert state.record("liveness", True, "") is None  # success resets the count
    assert state.record("liveness", False, "HTTP probe failed with statuscode: 401") is None
    assert (
        state.record("liveness", False, "HTTP probe failed with statuscode: 401")
        == "Liveness probe failed: HTTP probe failed with statuscode: 401"
    )


def test_liveness_waits_for_startup_and_startup_failures_restart() -> None:
    state = spr.ProbeState(
        {"startup": _probe("startup", failure_threshold=2), "liveness": _probe("liveness", failure_threshold=1)}, 0.0
    )
    assert state.record("liveness", False, "x") is None  # ignored: not started yet
    assert state.record("startup", False, "dial tcp 127.0.0.1:1: connect: connection refused") is None
    assert (
        state.record("startup", False, "dial tcp 127.0.0.1:1: connect: connection refused")
        == "Startup probe failed: dial tcp 127.0.0.1:1: connect: connection refused"
    )


def test_no_startup_probe_means_started_and_initial_delay() -> None:
    state = spr.ProbeState({"liveness": _probe("liveness", initial_delay=10, period=5)}, started_at=50.0)
    assert state.started and state.ready  # no readiness probe: ready once running
    assert state.due(59.9) == []
    assert state.due(60.0) == ["liveness"]
    state.launched("liveness", 60.0)
    assert state.due(64.0) == [] and state.due(65.0) == ["liveness"]


def test_crashloop_backoff_sequence_capped_for_the_lab() -> None:
    backoff, delays = 0.0, []
    for _ in range(6):
        delay, backoff = spr.crashloop_delay(backoff, ran_for=1.0)
        delays.append(delay)
    assert delays == [0.0, 10.0, 20.0, 40.0, 40.0, 40.0]
    assert spr.crashloop_delay(40.0, ran_for=600.0) == (0.0, 10.0)  # ran 10 min: reset


class _ProbeTarget(http.server.BaseHTTPRequestHandler):
    seen: list[tuple[str, dict[str, str]]] = []  # noqa: RUF012 - shared by design, test only

    def do_GET(self) -> None:
        self.seen.append((self.path, dict(self.headers)))
        if self.path.startswith("/redirect-local"):
            self.send_response(302)
            self.send_header("Location", "/code/401")
        elif self.path.startswith("/redirect-away"):
            self.send_response(302)
            self.send_header("Location", "http://192.0.2.1/elsewhere")
        else:
            self.send_response(int(self.path.split("/")[2].split("?")[0]))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def probe_target() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _ProbeTarget)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "ok", "message"),
    [
        ("/code/200", True, ""),
        ("/code/302", True, ""),
        ("/code/401", False, "HTTP probe failed with statuscode: 401"),
        ("/code/500", False, "HTTP probe failed with statuscode: 500"),
        ("/redirect-local", False, "HTTP probe failed with statuscode: 401"),  # same host: followed
        ("/redirect-away", True, "Probe terminated redirects"),  # other host: not followed, success
    ],
)
def test_http_probe_against_a_server(probe_target: int, path: str, ok: bool, message: str) -> None:
    result = spr.http_probe(_probe("liveness", port=probe_target, path=path))
    assert result[0] is ok
    assert result[1].startswith(message)


def test_http_probe_sends_query_and_headers(probe_target: int) -> None:
    probe = _probe("readiness", port=probe_target, path="/code/200?verbose&exclude=etcd", headers=(("X-Probe", "yes"),))
    assert spr.http_probe(probe) == (True, "")
    path, headers = _ProbeTarget.seen[-1]
    assert path == "/code/200?verbose&exclude=etcd"
    assert headers["X-Probe"] == "yes"
    assert headers["User-Agent"].startswith("kube-probe/")


def test_probe_connection_errors_and_other_kinds(probe_target: int) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    ok, message = spr.http_probe(_probe("liveness", port=closed, scheme="HTTPS", path="/livez"))
    assert not ok
    assert (
        message == f'Get "https://127.0.0.1:{closed}/livez": dial tcp 127.0.0.1:{closed}: connect: connection refused'
    )
    tcp = spr.Probe(kind="liveness", action="tcpSocket", host="127.0.0.1", port=probe_target)
    assert spr.run_probe(tcp) == (True, "")
    assert spr.run_probe(spr.Probe(kind="liveness", action="tcpSocket", host="127.0.0.1", port=closed))[0] is False
    ok, message = spr.run_probe(spr.Probe(kind="liveness", action="exec", command=("true",)))
    assert ok and "cannot exec" in message
    ok, message = spr.run_probe(_probe("liveness", port="metrics"))
    assert not ok and "metrics" in message


# ------------------------------------------------------------------------------------------------------------
# Real processes: a static Go helper as the "image" binary
# ------------------------------------------------------------------------------------------------------------

HELPER_GO = r"""
package main

import (
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A stand-in for a control-plane binary: open/write/ls/cat a path, print its env, exit N, hang ignoring SIGTERM,
// or serve HTTP with the status code read from a file on every request (so a test can make /livez answer 401).
func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: helper open|cat|write|ls|env|exit|serve ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "open", "cat":
		data, err := os.ReadFile(os.Args[2])
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		if os.Args[1] == "cat" {
			os.Stdout.Write(data)
		} else {
			fmt.Printf("OK %d bytes\n", len(data))
		}
	case "write":
		if err := os.WriteFile(os.Args[2], []byte("written\n"), 0o644); err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		fmt.Println("OK")
	case "ls":
		entries, err := os.ReadDir(os.Args[2])
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(1)
		}
		for _, e := range entries {
			fmt.Println(e.Name())
		}
	case "env":
		wd, _ := os.Getwd()
		fmt.Println("PWD=" + wd)
		for _, e := range os.Environ() {
			fmt.Println(e)
		}
	case "hang":
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("helper: ignoring SIGTERM")
		for {
			time.Sleep(time.Hour)
		}
	case "exit":
		code, _ := strconv.Atoi(os.Args[2])
		fmt.Fprintln(os.Stderr, "helper: fatal: exiting with", code)
		os.Exit(code)
	case "serve":
		addr, codeFile := os.Args[2], os.Args[3]
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			code := 200
			if b, err := os.ReadFile(codeFile); err == nil {
				if c, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
					code = c
				}
			}
			w.WriteHeader(code)
			fmt.Fprintf(w, "%d %s\n", code, r.URL.Path)
		})
		fmt.Println("serving on", addr)
		fmt.Println(http.ListenAndServe(addr, nil))
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "unknown mode", os.Args[1])
		os.Exit(2)
	}
}
"""

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mount namespaces need root")


@pytest.fixture(scope="session")
def go_helper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the helper once per session (static: it must run inside a root with no libc)."""
    go = shutil.which("go") or ("/usr/local/go/bin/go" if os.path.exists("/usr/local/go/bin/go") else None)
    if go is None:
        pytest.skip("Go is needed to build the static test helper")
    workdir = tmp_path_factory.mktemp("helper")
    (workdir / "helper.go").write_text(HELPER_GO)
    env = {**os.environ, "CGO_ENABLED": "0", "GOTOOLCHAIN": "local", "GOFLAGS": ""}
    if "HOME" not in env and "GOCACHE" not in env:
        env["GOCACHE"] = str(workdir / "gocache")
    subprocess.run([go, "build", "-o", "helper", "helper.go"], cwd=workdir, env=env, check=True, timeout=600)
    return workdir / "helper"


def _bin_root(tmp_path: Path, helper: Path) -> Path:
    """A lab binary tree whose kube-apiserver v1.34.4 is the helper."""
    target = tmp_path / "bin" / "kubernetes-v1.34.4"
    target.mkdir(parents=True)
    shutil.copy2(helper, target / "kube-apiserver")
    return tmp_path / "bin"


def _helper_pod(args: list[str], volumes: list[tuple[str, str, str, str, bool]], **container: Any) -> dict[str, Any]:
    """A pod whose container runs the helper; volumes are (name, hostPath, type, mountPath, readOnly)."""
    manifest = _pod(command=["kube-apiserver", *args], **container)
    manifest["spec"]["volumes"] = [{"name": n, "hostPath": {"path": p, "type": t}} for n, p, t, _, _ in volumes]
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": n, "mountPath": m, "readOnly": ro} for n, _, _, m, ro in volumes
    ]
    return manifest


def _launch(tmp_path: Path, bin_root: Path, manifest: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """What the runner does for one start, synchronously: plan, prepare the node, --exec."""
    plan = spr.plan_container(manifest, node_ip="127.0.0.1", bin_root=str(bin_root))
    assert spr.missing_image_error(plan.image, str(bin_root)) is None
    mounts = spr.prepare_mounts(plan, str(tmp_path / "run" / "emptydir"))
    spec_path = tmp_path / "run" / "spec.json"
    spec_path.parent.mkdir(parents=True, exist_ok=True)
    spec_path.write_text(json.dumps(spr.exec_spec(plan, str(tmp_path / "run" / "root"), mounts, "==== test")))
    return subprocess.run(
        [sys.executable, str(RUNNER), "--exec", str(spec_path)], capture_output=True, text=True, timeout=60
    )


@needs_root
def test_container_sees_only_its_volumes(tmp_path: Path, go_helper: Path) -> None:
    bin_root = _bin_root(tmp_path, go_helper)
    data = tmp_path / "data"
    data.mkdir()
    (data / "inside.txt").write_text("inside\n")
    config = tmp_path / "config"
    config.mkdir()
    (config / "ec.yaml").write_text("kind: EncryptionConfiguration\n")
    outside = tmp_path / "outside.txt"
    outside.write_text("node only\n")
    volumes = [
        ("data", str(data), "Directory", "/data", False),
        ("config", str(config), "DirectoryOrCreate", "/etc/kubernetes/enc", True),
        ("logs", str(tmp_path / "made-by-kubelet"), "DirectoryOrCreate", "/var/log/audit", False),
    ]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return _launch(tmp_path, bin_root, _helper_pod(list(args), volumes))

    def lines(*args: str) -> set[str]:
        return {line for line in run(*args).stdout.splitlines() if not line.startswith("==== ")}

    # a file inside a mounted hostPath volume is readable; the start header names pid and argv
    result = run("open", "/data/inside.txt")
    assert result.returncode == 0, result
    assert re.search(r'^==== test pid=\d+ argv=\["kube-apiserver", "open", "/data/inside.txt"\]$', result.stdout, re.M)
    assert run("open", "/etc/kubernetes/enc/ec.yaml").returncode == 0
    # a file of the node outside every volume is not there, like a flag pointing outside the pod's volumes
    result = run("open", str(outside))
    assert result.returncode == 1 and "no such file or directory" in result.stdout
    assert run("open", "/etc/os-release").returncode == 1
    assert run("open", str(config / "ec.yaml")).returncode == 1  # only at its mountPath
    # readOnly: true refuses writes; a writable volume writes through to the node
    result = run("write", "/etc/kubernetes/enc/new.yaml")
    assert result.returncode == 1 and "read-only file system" in result.stdout
    assert not (config / "new.yaml").exists()
    assert run("write", "/data/written.txt").returncode == 0
    assert (data / "written.txt").read_text() == "written\n"
    assert (tmp_path / "made-by-kubelet").is_dir()  # DirectoryOrCreate
    assert run("write", "/var/log/audit/audit.log").returncode == 0
    # the root holds only the runtime's minimum, the image's binary and the volumes
    skeleton = {"dev", "etc", "home", "proc", "root", "run", "sys", "tmp", "usr", "var"}
    assert lines("ls", "/") == skeleton | {"data"}  # /etc/kubernetes and /var/log are inside etc and var
    assert lines("ls", "/usr/local/bin") == {"kube-apiserver"}
    assert lines("ls", "/dev") >= {"null", "zero", "full", "random", "urandom", "tty", "pts", "shm"}
    assert lines("ls", "/etc") == {"group", "hostname", "hosts", "kubernetes", "nsswitch.conf", "passwd", "resolv.conf"}
    assert run("open", "/proc/self/status").returncode == 0
    assert "read-only file system" in run("write", "/sys/kernel/x").stdout
    mountinfo = run("cat", "/proc/self/mountinfo").stdout
    assert str(tmp_path / "outside.txt") not in mountinfo and " / / " in mountinfo


@needs_root
def test_container_env_workdir_subpath_and_start_errors(tmp_path: Path, go_helper: Path) -> None:
    bin_root = _bin_root(tmp_path, go_helper)
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    (cfg / "policy.yaml").write_text("rules: []\n")
    manifest = _helper_pod(["env"], [], env=[{"name": "FOO", "value": "bar"}], workingDir="/work/dir")
    manifest["spec"]["volumes"] = [{"name": "cfg", "hostPath": {"path": str(cfg), "type": "Directory"}}]
    manifest["spec"]["containers"][0]["volumeMounts"] = [
        {"name": "cfg", "mountPath": "/etc/policy.yaml", "subPath": "policy.yaml", "readOnly": True}
    ]
    result = _launch(tmp_path, bin_root, manifest)
    assert result.returncode == 0, result
    lines = result.stdout.splitlines()
    assert "PWD=/work/dir" in lines and "FOO=bar" in lines and f"PATH={spr.CONTAINER_PATH}" in lines
    manifest["spec"]["containers"][0]["command"] = ["kube-apiserver", "cat", "/etc/policy.yaml"]
    assert _launch(tmp_path, bin_root, manifest).stdout.endswith("rules: []\n")

    manifest["spec"]["containers"][0]["command"] = ["kube-scheduler"]
    result = _launch(tmp_path, bin_root, manifest)
    assert result.returncode == 128
    assert 'exec: "kube-scheduler": executable file not found in $PATH' in result.stderr

    manifest["spec"]["volumes"][0]["hostPath"] = {"path": str(cfg / "policy.yaml"), "type": "Directory"}
    with pytest.raises(
        spr.SetupError, match=f'volume "cfg" : hostPath type check failed: {cfg}/policy.yaml is not a directory'
    ):
        _launch(tmp_path, bin_root, manifest)


# ------------------------------------------------------------------------------------------------------------
# The whole runner as a subprocess
# ------------------------------------------------------------------------------------------------------------


class LabDirs:
    """A runner's world in a temporary directory, with every path moved there by environment variables."""

    def __init__(self, tmp_path: Path, helper: Path) -> None:
        self.root = tmp_path
        self.manifests = tmp_path / "manifests"
        self.run = tmp_path / "run"
        self.logs = tmp_path / "logs"
        self.data = tmp_path / "data"
        for path in (self.manifests, self.data):
            path.mkdir()
        self.bin = _bin_root(tmp_path, helper)
        self.node_json = tmp_path / "node.json"
        self.node_json.write_text(json.dumps({"node_ip": "127.0.0.1"}))
        self.env = {
            **os.environ,
            "KUBEHARDEN_LAB_MANIFESTS": str(self.manifests),
            "KUBEHARDEN_LAB_BIN": str(self.bin),
            "KUBEHARDEN_LAB_RUN": str(self.run),
            "KUBEHARDEN_LAB_LOGS": str(self.logs),
            "KUBEHARDEN_LAB_NODE_JSON": str(self.node_json),
        }
        self.seen_pids: set[int] = set()
        self.runner: subprocess.Popen[bytes] | None = None
        self.runner_log = tmp_path / "runner.log"

    def start(self) -> None:
        with open(self.runner_log, "ab") as log:
            self.runner = subprocess.Popen(
                [sys.executable, str(RUNNER)], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )

    def stop(self) -> int:
        """SIGTERM the runner (it stops its pods), SIGKILL if it does not exit within a minute."""
        assert self.runner is not None
        if self.runner.poll() is None:
            self.runner.send_signal(signal.SIGTERM)
            try:
                self.runner.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.runner.kill()
                self.runner.wait()
        return self.runner.returncode

    def put(self, name: str, manifest: dict[str, Any]) -> None:
        """Write like an editor that renames into place (the hidden temporary file is not a pod)."""
        tmp = self.manifests / f".{name}.tmp"
        tmp.write_text(yaml.safe_dump(manifest))
        tmp.rename(self.manifests / name)

    def status(self, name: str) -> dict[str, Any] | None:
        path = self.run / "pods" / f"{name}.json"
        try:
            text = path.read_text()
        except FileNotFoundError:
            return None
        assert text.count("\n") == 1, "a status is one JSON line (lab status reads it line by line)"
        status: dict[str, Any] = json.loads(text)
        if status.get("pid"):
            self.seen_pids.add(status["pid"])
        return status

    def wait(
        self, name: str, check: Callable[[dict[str, Any]], bool], what: str, timeout: float = 60
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = self.status(name)
            if last is not None and check(last):
                return last
            time.sleep(0.1)
        raise AssertionError(f"timed out after {timeout} s waiting for {name}: {what}; last status: {last}")


def _alive(pid: int) -> bool:
    """Running and not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def _wait_gone(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} still alive after {timeout} s"
        time.sleep(0.1)


@pytest.fixture
def lab(tmp_path: Path, go_helper: Path) -> Iterator[LabDirs]:
    """A running runner; stopped in teardown (SIGTERM, then SIGKILL), with any pod process it left."""
    if os.geteuid() != 0:
        pytest.skip("the runner's containers need root")
    dirs = LabDirs(tmp_path, go_helper)
    dirs.start()
    try:
        yield dirs
    finally:
        code = dirs.stop()
        for pid in dirs.seen_pids:  # only processes this runner started
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        print(dirs.runner_log.read_text()[-4000:])
        assert code == 0, "the runner exits cleanly on SIGTERM"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _serving_pod(dirs: LabDirs, port: int, *extra: str) -> dict[str, Any]:
    manifest = _helper_pod(
        ["serve", f"127.0.0.1:{port}", "/data/code", *extra], [("data", str(dirs.data), "Directory", "/data", True)]
    )
    spec = manifest["spec"]
    spec["terminationGracePeriodSeconds"] = 5
    probe: dict[str, Any] = {"httpGet": {"path": "/livez", "port": port, "scheme": "HTTP"}, "periodSeconds": 1}
    container = spec["containers"][0]
    container["startupProbe"] = {**probe, "failureThreshold": 60}
    container["livenessProbe"] = {**probe, "failureThreshold": 2}
    container["readinessProbe"] = {**probe, "httpGet": {**probe["httpGet"], "path": "/readyz"}}
    return manifest


def test_runner_end_to_end(lab: LabDirs) -> None:
    port = _free_port()
    (lab.data / "code").write_text("200\n")
    name = "kube-apiserver.yaml"

    t0 = time.monotonic()
    lab.put(name, _serving_pod(lab, port))
    first = lab.wait(name, lambda s: s["pid"] and s["state"] == "running" and s["ready"], "running and ready")
    print(f"\nnew manifest -> running and ready: {time.monotonic() - t0:.2f} s")
    assert first["started"] and first["restarts"] == 0 and first["pod"] == "p" and first["container"] == "c"
    assert first["manifest"] == str(lab.manifests / name)
    assert first["manifest_sha256"] == hashlib.sha256((lab.manifests / name).read_bytes()).hexdigest()
    assert isinstance(first["started_at"], float) and first["node_ip"] == "127.0.0.1"
    pid1 = first["pid"]
    assert _alive(pid1)
    assert Path(f"/proc/{pid1}/cmdline").read_bytes().split(b"\0")[:2] == [b"kube-apiserver", b"serve"]

    # liveness answering 401 (think --anonymous-auth=false): the runner kills and restarts the container
    t0 = time.monotonic()
    (lab.data / "code").write_text("401\n")
    failed = lab.wait(name, lambda s: s["restarts"] >= 1 and "401" in s["last_error"], "a liveness restart")
    print(f"/livez 401 -> restarted: {time.monotonic() - t0:.2f} s")
    assert "Liveness probe failed: HTTP probe failed with statuscode: 401" in failed["last_error"]
    assert failed["liveness_failures_total"] >= 2
    _wait_gone(pid1)
    (lab.data / "code").write_text("200\n")
    second = lab.wait(name, lambda s: s["pid"] not in (None, pid1) and s["started"], "the restarted container")
    pid2 = second["pid"]

    # an edited manifest is a new pod: new process, fresh counters
    t0 = time.monotonic()
    lab.put(name, _serving_pod(lab, port, "--edited=true"))
    third = lab.wait(name, lambda s: s["pid"] not in (None, pid2) and s["state"] == "running", "the edited pod")
    print(f"manifest edited -> new pid running: {time.monotonic() - t0:.2f} s")
    assert third["restarts"] == 0 and third["last_error"] == ""
    assert b"--edited=true" in Path(f"/proc/{third['pid']}/cmdline").read_bytes()
    _wait_gone(pid2)

    # a deleted manifest stops the pod and removes its status
    t0 = time.monotonic()
    (lab.manifests / name).unlink()
    deadline = time.monotonic() + 60
    while lab.status(name) is not None:
        assert time.monotonic() < deadline, "status not removed"
        time.sleep(0.1)
    _wait_gone(third["pid"])
    print(f"manifest deleted -> stopped, status removed: {time.monotonic() - t0:.2f} s")
    log = (lab.logs / f"{name}.log").read_text()
    for pid in (pid1, pid2, third["pid"]):
        assert re.search(rf"^==== .* pid={pid} argv=\[\"kube-apiserver\", \"serve\"", log, re.M), log
    assert "serving on" in log and "Liveness probe failed" in log


def test_runner_reports_what_does_not_run(lab: LabDirs) -> None:
    # a crashing component: exit code and its last output, then CrashLoopBackOff
    lab.put("crash.yaml", _helper_pod(["exit", "3"], []))
    crashed = lab.wait("crash.yaml", lambda s: s["restarts"] >= 1 and s["state"] == "backoff", "back-off")
    assert crashed["last_exit_code"] == 3
    assert "exited with code 3" in crashed["last_error"]
    assert "helper: fatal: exiting with 3" in crashed["last_error"]
    assert crashed["pid"] is None and crashed["next_start_at"] > time.time()

    # a version the lab does not have
    missing = _helper_pod(["env"], [])
    missing["spec"]["containers"][0]["image"] = "registry.k8s.io/kube-apiserver:v1.33.0"
    lab.put("old.yaml", missing)
    old = lab.wait("old.yaml", lambda s: s["state"] == "error", "an error")
    assert old["last_error"] == (
        "image registry.k8s.io/kube-apiserver:v1.33.0: the lab has no kube-apiserver v1.33.0 (available: v1.34.4)"
    )
    assert "the lab has no kube-apiserver v1.33.0" in (lab.logs / "old.yaml.log").read_text()

    # the real invalid hand edit is refused, and a hidden file is no pod
    shutil.copy(DATA / INVALID_FIXTURE, lab.manifests / "kube-apiserver.yaml.bak")
    shutil.copy(DATA / INVALID_FIXTURE, lab.manifests / ".hidden.yaml")
    invalid = lab.wait("kube-apiserver.yaml.bak", lambda s: s["state"] == "error", "an error")
    assert "spec.volumes[0].name: Required value" in invalid["last_error"]
    assert invalid["pid"] is None
    # a hostPath of the wrong type: the kubelet's words
    wrong = _helper_pod(["env"], [("f", str(lab.node_json), "Directory", "/x", True)])
    lab.put("wrong.yaml", wrong)
    typed = lab.wait("wrong.yaml", lambda s: s["state"] == "error", "an error")
    assert f"hostPath type check failed: {lab.node_json} is not a directory" in typed["last_error"]
    assert lab.status(".hidden.yaml") is None  # scanned together with wrong.yaml, which has its status


def test_runner_sigkills_after_the_grace_period_and_stops_pods_on_sigterm(lab: LabDirs) -> None:
    stubborn = _helper_pod(["hang"], [])
    stubborn["spec"]["terminationGracePeriodSeconds"] = 2
    lab.put("stubborn.yaml", stubborn)
    port = _free_port()
    (lab.data / "code").write_text("200\n")
    lab.put("serving.yaml", _serving_pod(lab, port))
    hung = lab.wait("stubborn.yaml", lambda s: s["pid"] and s["state"] == "running", "running")
    serving = lab.wait("serving.yaml", lambda s: s["pid"] and s["ready"], "ready")

    t0 = time.monotonic()
    (lab.manifests / "stubborn.yaml").unlink()
    while lab.status("stubborn.yaml") is not None:
        assert time.monotonic() - t0 < 60, "status not removed"
        time.sleep(0.1)
    elapsed = time.monotonic() - t0
    print(f"\nSIGTERM ignored -> SIGKILL after the 2 s grace, status removed: {elapsed:.2f} s")
    assert 2.0 <= elapsed < 10
    assert not _alive(hung["pid"])
    assert "still running 2 s after SIGTERM: SIGKILL" in (lab.logs / "stubborn.yaml.log").read_text()

    assert lab.stop() == 0
    stopped = lab.status("serving.yaml")
    assert stopped is not None and stopped["state"] == "stopped" and stopped["pid"] is None
    assert not _alive(serving["pid"])
