"""The static pod model against every real kubeadm manifest in tests/data/kubeadm (see its SOURCES.md):
loading, the flag model, kubeadm's YAML form, volumes, lint, and property tests for flag edits."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubeharden.core.lint import lint, lint_text
from kubeharden.core.manifests import (
    HostPathVolume,
    ManifestError,
    StaticPod,
    VolumeMount,
    dump_manifest,
    image_version,
    load_manifest,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "kubeadm"
ALL_FILES = sorted(p for p in DATA.glob("*/*") if p.suffix in (".yaml", ".conf"))


def _name(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def _load(name: str) -> StaticPod:
    return load_manifest(_read(name), source=name)


# Files in the fixtures that are not static pods at all: load must say so by kind.
NOT_PODS = {
    "1.17.0-hardened-kms-outofrange/apiserver-encryption.conf": "EncryptionConfiguration",
    "1.20.5-kubelet/config.yaml": "KubeletConfiguration",
    "1.22.1/kubelet-config.yaml": "KubeletConfiguration",
    "1.28.1-hardened-audit/etc.kubernetes.audit.policy.yaml": "Policy",
}

# A Pod that is genuinely invalid: a hand edit left the new volume without a name (the kubelet rejects it) and
# misspelt readOnly as readOlny on its mount.
INVALID = {
    "1.21.0-hardened-encryption/kube-apiserver.yaml": [
        "spec.volumes[0] (hostPath /etc/kubernetes/etcd) has no name",
        "mounts volume 'etcd', which spec.volumes does not define",
        "unknown field readOlny (did you mean readOnly?)",
    ],
}

PODS = [_name(p) for p in ALL_FILES if _name(p) not in NOT_PODS and _name(p) not in INVALID]

# Hand-edited files that are not in kubeadm's byte form, and why dump_manifest normalises them.
NOT_CANONICAL = {
    "1.17.0-hardened-kms-outofrange/kube-apiserver.yaml": "a trailing space after a mountPath",
    "1.26.1-hardened-audit/kube-apiserver.yaml": "blank lines, a whitespace-only line, name-first volumes",
    "1.28.1-hardened-audit/kube-apiserver.yaml": "'# audit logging' comments (PyYAML cannot keep comments)",
}

EXPECTED = {
    "1.17.0-hardened-kms-outofrange/kube-apiserver.yaml": ("kube-apiserver", (1, 17, 0)),
    "1.20.11/kube-apiserver.yaml": ("kube-apiserver", (1, 20, 11)),
    "1.20.11/kube-controller-manager.yaml": ("kube-controller-manager", (1, 20, 11)),
    "1.20.11/kube-scheduler.yaml": ("kube-scheduler", (1, 20, 11)),
    "1.21.1-kind-mirrorpod/etcd.yaml": ("etcd", (3, 4, 13)),
    "1.21.1-kind-mirrorpod/kube-apiserver.yaml": ("kube-apiserver", (1, 21, 1)),
    "1.21.1-kind-mirrorpod/kube-controller-manager.yaml": ("kube-controller-manager", (1, 21, 1)),
    "1.21.1-kind-mirrorpod/kube-scheduler.yaml": ("kube-scheduler", (1, 21, 1)),
    "1.22.1/kube-apiserver.yaml": ("kube-apiserver", (1, 22, 1)),
    "1.22.1/kube-controller-manager.yaml": ("kube-controller-manager", (1, 22, 1)),
    "1.22.1/kube-etcd.yaml": ("etcd", (3, 5, 0)),
    "1.22.1/kube-scheduler.yaml": ("kube-scheduler", (1, 22, 1)),
    "1.23.6-modified/etcd.yaml": ("etcd", (3, 5, 1)),
    "1.23.6-modified/kube-apiserver.yaml": ("kube-apiserver", (1, 23, 6)),
    "1.23.6-modified/kube-controller-manager.yaml": ("kube-controller-manager", (1, 23, 5)),
    "1.26.1-hardened-audit/etcd.yaml": ("etcd", (3, 5, 6)),
    "1.26.1-hardened-audit/kube-apiserver.yaml": ("kube-apiserver", (1, 26, 1)),
    "1.26.1-hardened-audit/kube-controller-manager.yaml": ("kube-controller-manager", (1, 26, 1)),
    "1.26.1-hardened-audit/kube-scheduler.yaml": ("kube-scheduler", (1, 26, 1)),
    "1.27.3-redacted/etcd.yaml": ("etcd", (3, 5, 7)),
    "1.27.3-redacted/kube-apiserver.yaml": ("kube-apiserver", (1, 27, 3)),
    "1.27.3-redacted/kube-controller-manager.yaml": ("kube-controller-manager", (1, 27, 3)),
    "1.27.3-redacted/kube-scheduler.yaml": ("kube-scheduler", (1, 27, 3)),
    "1.28.1-hardened-audit/kube-apiserver.yaml": ("kube-apiserver", (1, 28, 1)),
    "1.29.0/etcd.yaml": ("etcd", (3, 5, 10)),
    "1.34.4-lab/etcd.yaml": ("etcd", (3, 6, 5)),
    "1.34.4-lab/kube-apiserver.yaml": ("kube-apiserver", (1, 34, 4)),
    "1.34.4-lab/kube-controller-manager.yaml": ("kube-controller-manager", (1, 34, 4)),
    "1.34.4-lab/kube-scheduler.yaml": ("kube-scheduler", (1, 34, 4)),
    "1.29.0/kube-apiserver.yaml": ("kube-apiserver", (1, 29, 0)),
    "1.29.0/kube-controller-manager.yaml": ("kube-controller-manager", (1, 29, 0)),
    "1.29.0/kube-scheduler.yaml": ("kube-scheduler", (1, 29, 0)),
    "1.29.0-cppntn/etcd.yaml": ("etcd", (3, 5, 10)),
    "1.29.0-cppntn/kube-apiserver.yaml": ("kube-apiserver", (1, 29, 0)),
}

_MIRROR = "this is a pod exported from the API"

# What lint must find, per fixture (each entry is a substring of exactly one finding); fixtures not listed
# must lint clean.
LINT_FINDINGS = {
    # out of the range the rules were written for (1.20-1.34)
    "1.17.0-hardened-kms-outofrange/kube-apiserver.yaml": ["kube-apiserver 1.17.0 is outside the Kubernetes"],
    # hand-appended duplicates: on 1.20 the issuer is a last-wins flag, so the appended value silently wins
    "1.20.11/kube-apiserver.yaml": [
        "--service-account-issuer is given 2 times with different values",
        "--service-account-signing-key-file is given 2 times with the same value",
    ],
    # kubectl-exported mirror pods: uid, resourceVersion, ownerReferences and status come from the API
    "1.21.1-kind-mirrorpod/etcd.yaml": [_MIRROR],
    "1.21.1-kind-mirrorpod/kube-apiserver.yaml": [_MIRROR],
    "1.21.1-kind-mirrorpod/kube-controller-manager.yaml": [_MIRROR],
    "1.21.1-kind-mirrorpod/kube-scheduler.yaml": [_MIRROR],
}


# ----------------------------------------------------------------------------------------------------
# Every fixture
# ----------------------------------------------------------------------------------------------------


def test_fixture_inventory_is_complete() -> None:
    """Every fixture file is classified, so a new one cannot slip past these tests."""
    names = {_name(p) for p in ALL_FILES}
    assert names == set(NOT_PODS) | set(INVALID) | set(EXPECTED)
    assert set(NOT_CANONICAL) <= set(PODS)
    assert (DATA / "SOURCES.md").is_file()


@pytest.mark.parametrize("name", sorted(NOT_PODS))
def test_non_pod_files_are_refused_by_kind(name: str) -> None:
    with pytest.raises(ManifestError) as raised:
        _load(name)
    assert raised.value.problems == [f"not a static pod manifest: kind is {NOT_PODS[name]}, expected Pod"]
    assert str(raised.value).startswith(f"{name}: not a static pod manifest")


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_pod_gives_every_problem(name: str) -> None:
    with pytest.raises(ManifestError) as raised:
        _load(name)
    problems = raised.value.problems
    assert len(problems) == len(INVALID[name])
    for expected, problem in zip(INVALID[name], problems, strict=True):
        assert expected in problem
    assert lint_text(_read(name)) == problems


@pytest.mark.parametrize("name", PODS)
def test_load_reads_component_and_version(name: str) -> None:
    pod = _load(name)
    assert (pod.component, pod.version) == EXPECTED[name]
    assert pod.binary == pod.component


@pytest.mark.parametrize("name", PODS)
def test_flags_read_back_equal_the_command(name: str) -> None:
    document = yaml.safe_load(_read(name))
    command: list[str] = document["spec"]["containers"][0]["command"]
    pod = _load(name)
    assert pod.argv() == command
    assert [f"{flag}={value}" for flag, value in pod.flag_items()] == command[1:]
    last_wins: dict[str, str] = {}
    for word in command[1:]:
        flag, _, value = word.partition("=")
        last_wins[flag] = value
    assert pod.flags() == last_wins
    assert list(pod.flags()) == list(last_wins)  # order of first appearance
    assert pod.positional_args() == []


@pytest.mark.parametrize("name", PODS)
def test_load_dump_load_is_stable(name: str) -> None:
    pod = _load(name)
    dumped = dump_manifest(pod)
    again = load_manifest(dumped)
    assert again.document == pod.document
    assert again.argv() == pod.argv()
    assert again.flags() == pod.flags()
    assert dump_manifest(again) == dumped  # rendering a rendered manifest changes nothing
    assert again.canonical_source is True
    assert yaml.safe_load(dumped) == yaml.safe_load(_read(name))


@pytest.mark.parametrize("name", PODS)
def test_kubeadm_written_files_round_trip_byte_for_byte(name: str) -> None:
    text = _read(name)
    pod = load_manifest(text)
    if name in NOT_CANONICAL:
        assert dump_manifest(pod) != text
        assert pod.canonical_source is False
    else:
        assert dump_manifest(pod) == text
        assert pod.canonical_source is True


@pytest.mark.parametrize("name", PODS)
def test_lint_findings(name: str) -> None:
    findings = lint(_load(name))
    expected = LINT_FINDINGS.get(name, [])
    assert len(findings) == len(expected), findings
    for wanted in expected:
        assert sum(wanted in finding for finding in findings) == 1, (wanted, findings)


# ----------------------------------------------------------------------------------------------------
# Loading: what is refused, and how it is said
# ----------------------------------------------------------------------------------------------------

_MINIMAL = """\
apiVersion: v1
kind: Pod
metadata:
  name: kube-apiserver
spec:
  containers:
  - command:
    - kube-apiserver
    - --secure-port=6443
    image: registry.k8s.io/kube-apiserver:v1.29.0
    name: kube-apiserver
"""


def test_minimal_manifest_round_trips() -> None:
    pod = load_manifest(_MINIMAL)
    assert dump_manifest(pod) == _MINIMAL
    assert pod.component == "kube-apiserver"  # no labels: the container's name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            _MINIMAL.replace("kind: Pod", "kind: Deployment"),
            "not a static pod manifest: kind is Deployment, expected Pod",
        ),
        (_MINIMAL.replace("kind: Pod\n", ""), "not a static pod manifest: kind is missing, expected Pod"),
        (_MINIMAL.replace("apiVersion: v1", "apiVersion: apps/v1"), "apiVersion is apps/v1, expected v1"),
        ("- a\n- b\n", "the top level is a list, expected a mapping"),
        ("", "the file holds no YAML document"),
        (_MINIMAL + "---\n" + _MINIMAL, "holds 2 YAML documents"),
        ("apiVersion: v1\nkind: Pod\nmetadata: {name: x}\nspec: {}\n", "spec.containers is missing or empty"),
        ("kind: Pod\n  bad: [\n", "not valid YAML at line"),
        (
            _MINIMAL.replace("- --secure-port=6443", "- 6443"),
            "command[1] is 6443 (a number), expected a string",
        ),
        (_MINIMAL.replace("  name: kube-apiserver\nspec", "  labels: {}\nspec"), "metadata.name is missing"),
        (
            _MINIMAL.replace("- kube-apiserver\n    - --secure-port=6443", "- /bin/sh\n    - -c\n    - kube-apiserver"),
            "runs through a shell (/bin/sh)",
        ),
    ],
)
def test_load_refuses_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as raised:
        load_manifest(text, source="/etc/kubernetes/manifests/x.yaml")
    assert message in str(raised.value)
    assert str(raised.value).startswith("/etc/kubernetes/manifests/x.yaml: ")


@pytest.mark.parametrize(
    ("image", "version"),
    [
        ("registry.k8s.io/kube-apiserver:v1.29.0", (1, 29, 0)),
        ("registry.k8s.io/etcd:3.5.10-0", (3, 5, 10)),
        ("localhost:5000/kube-apiserver:v1.30.2", (1, 30, 2)),
        ("registry.k8s.io/kube-apiserver:v1.29.0@sha256:abcd", (1, 29, 0)),
        ("registry.k8s.io/kube-apiserver", None),
        ("localhost:5000/kube-apiserver", None),
        ("registry.k8s.io/kube-apiserver:latest", None),
    ],
)
def test_image_version(image: str, version: tuple[int, int, int] | None) -> None:
    assert image_version(image) == version


# ----------------------------------------------------------------------------------------------------
# Flags
# ----------------------------------------------------------------------------------------------------


def test_set_existing_flag_to_same_value_is_a_no_op() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    assert pod.set_flag("--allow-privileged", True) is False
    assert pod.set_flag("secure-port", 6443) is False
    assert dump_manifest(pod) == _read("1.29.0/kube-apiserver.yaml")


def test_new_flag_goes_where_kubeadm_sorts_it() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    assert pod.set_flag("--profiling", False) is True
    assert pod.set_flag("--anonymous-auth", False) is True
    assert pod.set_flag("--tls-min-version", "VersionTLS12") is True
    command = pod.container["command"]
    assert command[0] == "kube-apiserver"
    assert command[1:] == sorted(command[1:])
    assert "--profiling=false" in command and "--anonymous-auth=false" in command
    text = dump_manifest(pod)
    assert "    - --profiling=false\n    - --proxy-client-cert-file=" in text
    # everything else is unchanged: removing the new flags gives the file back byte for byte
    for flag in ("--profiling", "--anonymous-auth", "--tls-min-version"):
        assert pod.remove_flag(flag) is True
    assert pod.remove_flag("--profiling") is False
    assert dump_manifest(pod) == _read("1.29.0/kube-apiserver.yaml")


def test_changing_a_flag_keeps_its_place() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    index = pod.argv().index("--authorization-mode=Node,RBAC")
    assert pod.set_flag("--authorization-mode", "Node,RBAC,Webhook")
    assert pod.argv()[index] == "--authorization-mode=Node,RBAC,Webhook"
    assert pod.set_flag("--authorization-mode", "Node,RBAC")
    assert dump_manifest(pod) == _read("1.29.0/kube-apiserver.yaml")


def test_repeated_flags_last_wins_and_nothing_is_lost() -> None:
    pod = _load("1.20.11/kube-apiserver.yaml")
    assert pod.get_flag("--service-account-issuer") == "kubernetes.default.svc"
    assert pod.get_flag_values("--service-account-issuer") == [
        "https://kubernetes.default.svc.cluster.local",
        "kubernetes.default.svc",
    ]
    assert pod.duplicate_flags() == {
        "--service-account-issuer": [
            "https://kubernetes.default.svc.cluster.local",
            "kubernetes.default.svc",
        ],
        "--service-account-signing-key-file": ["/etc/kubernetes/pki/sa.key", "/etc/kubernetes/pki/sa.key"],
    }
    # setting the flag decides its value: one occurrence, at the first (sorted) place
    first = pod.argv().index("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
    assert pod.set_flag("--service-account-issuer", "https://kubernetes.default.svc.cluster.local")
    assert pod.get_flag_values("--service-account-issuer") == ["https://kubernetes.default.svc.cluster.local"]
    assert pod.argv()[first] == "--service-account-issuer=https://kubernetes.default.svc.cluster.local"
    assert len(pod.argv()) == len(_load("1.20.11/kube-apiserver.yaml").argv()) - 1


def test_list_and_map_flags_combine_like_pflag() -> None:
    text = _MINIMAL.replace(
        "    - --secure-port=6443\n",
        "    - --enable-admission-plugins=NodeRestriction\n"
        "    - --feature-gates=A=true,B=false\n"
        "    - --service-account-key-file=/a.pub\n"
        "    - --enable-admission-plugins=EventRateLimit,AlwaysPullImages\n"
        "    - --feature-gates=B=true\n"
        "    - --service-account-key-file=/b.pub\n",
    )
    pod = load_manifest(text)
    assert pod.get_flag("--enable-admission-plugins") == "NodeRestriction,EventRateLimit,AlwaysPullImages"
    assert pod.get_flag("--feature-gates") == "A=true,B=true"
    assert pod.get_flag("--service-account-key-file") == "/b.pub"
    assert pod.get_flag_values("--service-account-key-file") == ["/a.pub", "/b.pub"]
    # repeating list flags is how they are meant to be used: only the two unmounted key files are findings
    assert [f.split(" is ")[0] for f in lint(pod)] == [
        "kube-apiserver: --service-account-key-file=/a.pub",
        "kube-apiserver: --service-account-key-file=/b.pub",
    ]


def test_space_separated_and_bare_flags() -> None:
    text = _MINIMAL.replace(
        "    - --secure-port=6443\n", '    - --v\n    - "2"\n    - --profiling\n    - -secure-port=6443\n'
    )
    pod = load_manifest(text)
    assert pod.get_flag("v") == "2"
    assert pod.get_flag("--profiling") == "true"
    assert pod.get_flag("--secure-port") == "6443"
    assert pod.argv() == ["kube-apiserver", "--v", "2", "--profiling", "-secure-port=6443"]
    assert pod.flag_items() == [("--v", "2"), ("--profiling", None), ("--secure-port", "6443")]
    assert dump_manifest(pod) == text
    assert pod.set_flag("--profiling", True) is False
    assert pod.set_flag("--v", 3) is True
    assert pod.argv() == ["kube-apiserver", "--v=3", "--profiling", "-secure-port=6443"]


def test_args_style_manifest() -> None:
    """kind-style: the binary in command, the flags in args; and the image's entrypoint with only args."""
    text = _MINIMAL.replace("    - --secure-port=6443\n", "").replace(
        "    image:", "    args:\n    - --secure-port=6443\n    - --tls-cert-file=/pki/a.crt\n    image:"
    )
    pod = load_manifest(text)
    assert pod.flags() == {"--secure-port": "6443", "--tls-cert-file": "/pki/a.crt"}
    assert pod.set_flag("--profiling", False)
    assert pod.container["command"] == ["kube-apiserver"]
    assert pod.container["args"] == ["--profiling=false", "--secure-port=6443", "--tls-cert-file=/pki/a.crt"]
    only_args = load_manifest(text.replace("  - command:\n    - kube-apiserver\n    args:", "  - args:"))
    assert only_args.binary is None
    assert only_args.set_flag("--anonymous-auth", False)
    assert "command" not in only_args.container
    assert only_args.argv() == ["--anonymous-auth=false", "--secure-port=6443", "--tls-cert-file=/pki/a.crt"]
    assert load_manifest(dump_manifest(only_args)).argv() == only_args.argv()


def test_command_flags_then_args_flags_last_wins() -> None:
    text = _MINIMAL.replace("    image:", "    args:\n    - --secure-port=8443\n    image:")
    pod = load_manifest(text)
    assert pod.get_flag("--secure-port") == "8443"
    assert pod.set_flag("--secure-port", "6443")
    assert pod.container["command"] == ["kube-apiserver", "--secure-port=6443"]
    assert pod.container["args"] == []


def test_sort_flags_normalises_a_hand_edited_command() -> None:
    pod = _load("1.20.11/kube-controller-manager.yaml")
    assert pod.argv()[-2:] == ["--allocate-node-cidrs=true", "--cluster-cidr=10.244.0.0/16"]
    assert pod.sort_flags() is True
    assert pod.argv()[1:] == sorted(pod.argv()[1:])
    assert pod.sort_flags() is False
    kubeadm = _load("1.29.0/kube-controller-manager.yaml")
    assert kubeadm.sort_flags() is False


@pytest.mark.parametrize("bad", ["", "--", "--a=b", "--a b", "--ä!"])
def test_bad_flag_names_are_refused(bad: str) -> None:
    pod = load_manifest(_MINIMAL)
    with pytest.raises(ManifestError, match="is not a flag name"):
        pod.set_flag(bad, "x")


def test_flag_values_must_be_text_bool_or_int() -> None:
    pod = load_manifest(_MINIMAL)
    with pytest.raises(ManifestError, match="give a string, a bool or an int"):
        pod.set_flag("--x", 1.5)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------------------------------
# Volumes
# ----------------------------------------------------------------------------------------------------


def test_volume_for_path_honours_directory_prefixes() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    found = pod.volume_for_path("/etc/kubernetes/pki/etcd/ca.crt")
    assert found == (
        HostPathVolume("k8s-certs", "/etc/kubernetes/pki", "DirectoryOrCreate"),
        VolumeMount("k8s-certs", "/etc/kubernetes/pki", True, ""),
    )
    assert pod.volume_for_path("/etc/kubernetes/pki") is not None
    assert pod.volume_for_path("/etc/kubernetes/pkix/a.crt") is None
    assert pod.volume_for_path("/etc/kubernetes/encryption.yaml") is None
    assert pod.volume_for_path("relative/path") is None
    assert pod.host_path_for("/etc/kubernetes/pki/./etcd/../ca.crt") == "/etc/kubernetes/pki/ca.crt"


def test_volume_for_path_takes_the_deepest_mount_and_trailing_slashes() -> None:
    audit = _load("1.26.1-hardened-audit/kube-apiserver.yaml")
    found = audit.volume_for_path("/var/log/kube-audit/audit.log")
    assert found is not None and found[0].name == "audit-log" and not found[1].read_only
    pod = _load("1.29.0/kube-apiserver.yaml")
    pod.add_host_path_volume("nested", "/srv/nested", "/etc/kubernetes/pki/nested", type_="DirectoryOrCreate")
    found = pod.volume_for_path("/etc/kubernetes/pki/nested/key.pem")
    assert found is not None and found[0].name == "nested"
    assert pod.host_path_for("/etc/kubernetes/pki/nested/key.pem") == "/srv/nested/key.pem"


def test_add_host_path_volume_is_idempotent_and_kubeadm_shaped() -> None:
    original = _read("1.29.0/kube-apiserver.yaml")
    pod = load_manifest(original)
    assert pod.add_host_path_volume(
        "encryption-config", "/etc/kubernetes/enc/enc.yaml", "/etc/kubernetes/enc/enc.yaml", True, "File"
    )
    once = dump_manifest(pod)
    assert not pod.add_host_path_volume(
        "encryption-config", "/etc/kubernetes/enc/enc.yaml", "/etc/kubernetes/enc/enc.yaml", True, "File"
    )
    assert dump_manifest(pod) == once
    # kubeadm sorts volumes and mounts by name: encryption-config goes after ca-certs, before etc-ca-...
    assert (
        "      name: ca-certs\n      readOnly: true\n"
        "    - mountPath: /etc/kubernetes/enc/enc.yaml\n      name: encryption-config\n      readOnly: true\n"
        "    - mountPath: /etc/ca-certificates\n"
    ) in once
    assert (
        "    name: ca-certs\n"
        "  - hostPath:\n      path: /etc/kubernetes/enc/enc.yaml\n      type: File\n"
        "    name: encryption-config\n"
        "  - hostPath:\n      path: /etc/ca-certificates\n"
    ) in once
    reloaded = load_manifest(once)
    assert reloaded.canonical_source is True
    assert not reloaded.add_host_path_volume(
        "encryption-config", "/etc/kubernetes/enc/enc.yaml", "/etc/kubernetes/enc/enc.yaml", True, "File"
    )
    assert pod.remove_volume("encryption-config") is True
    assert pod.remove_volume("encryption-config") is False
    assert dump_manifest(pod) == original


def test_writable_mount_omits_read_only_like_kubeadm() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    pod.add_host_path_volume(
        "audit-log", "/var/log/kubernetes/audit", "/var/log/kubernetes/audit", False, "DirectoryOrCreate"
    )
    assert {"mountPath": "/var/log/kubernetes/audit", "name": "audit-log"} in pod.container["volumeMounts"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("k8s-certs", "/other", "/etc/kubernetes/pki", True, "DirectoryOrCreate"),
            "already exists as hostPath",
        ),
        (("k8s-certs", "/etc/kubernetes/pki", "/etc/kubernetes/pki", True, "Directory"), "already exists"),
        (
            ("new-certs", "/srv/pki", "/etc/kubernetes/pki", True, "Directory"),
            "already used by volume 'k8s-certs'",
        ),
        (("k8s-certs", "/etc/kubernetes/pki", "/pki", True, "DirectoryOrCreate"), "already mounted at"),
        (
            ("k8s-certs", "/etc/kubernetes/pki", "/etc/kubernetes/pki", False, "DirectoryOrCreate"),
            "readOnly True",
        ),
        (("Bad_Name", "/a", "/a", True, "File"), "is not a DNS label"),
        (("ok", "relative", "/a", True, "File"), "is not absolute"),
        (("ok", "/a", "/a", True, "Fil"), "hostPath type 'Fil'"),
    ],
)
def test_add_host_path_volume_conflicts_are_errors(args: tuple[str, str, str, bool, str], message: str) -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    before = dump_manifest(pod)
    with pytest.raises(ManifestError, match=message.replace("(", r"\(")):
        pod.add_host_path_volume(*args)
    assert dump_manifest(pod) == before


def test_first_volume_added_then_removed_restores_the_file() -> None:
    pod = load_manifest(_MINIMAL)
    assert pod.add_host_path_volume("pki", "/etc/kubernetes/pki", "/etc/kubernetes/pki", True, "Directory")
    assert "volumes:\n  - hostPath:\n      path: /etc/kubernetes/pki\n" in dump_manifest(pod)
    assert pod.remove_volume("pki")
    assert dump_manifest(pod) == _MINIMAL


def test_sub_path_mounts_map_to_the_host() -> None:
    pod = load_manifest(
        _MINIMAL
        + "    volumeMounts:\n    - mountPath: /etc/conf\n      name: conf\n      subPath: apiserver\n"
        + "  volumes:\n  - hostPath:\n      path: /srv/conf\n    name: conf\n"
    )
    assert pod.host_path_for("/etc/conf/a.yaml") == "/srv/conf/apiserver/a.yaml"
    assert pod.volume_for_path("/etc/conf") is not None


# ----------------------------------------------------------------------------------------------------
# Lint on planted problems
# ----------------------------------------------------------------------------------------------------


def test_lint_flags_the_version_refuses() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    pod.set_flag("--insecure-port", 0)
    pod.set_flag("--enable-admission-plugins", "NodeRestriction,PodSecurityPolicy")
    pod.set_flag("--secure-port", 0)
    findings = lint(pod)
    assert any("does not accept --insecure-port" in f for f in findings)
    assert any("admission plugin PodSecurityPolicy" in f for f in findings)
    assert len(findings) == 2  # --secure-port=0 is a control's finding (KH-API-BIND), judged by the planner


def test_lint_insecure_port_value_on_1_21() -> None:
    pod = _load("1.21.1-kind-mirrorpod/kube-apiserver.yaml")
    pod.set_flag("--insecure-port", 8080)
    findings = [f for f in lint(pod) if _MIRROR not in f]
    assert any("--insecure-port=8080 is not accepted, only 0" in f for f in findings)


def test_lint_etcd_tls_flags_need_3_5_8() -> None:
    old = _load("1.27.3-redacted/etcd.yaml")
    old.set_flag("--tls-min-version", "TLS1.2")
    assert ["etcd 3.5.7 does not accept --tls-min-version" in f for f in lint(old)] == [True]
    new = _load("1.29.0/etcd.yaml")
    new.set_flag("--tls-min-version", "TLS1.2")
    assert lint(new) == []


def test_lint_files_outside_mounts() -> None:
    pod = _load("1.29.0/kube-apiserver.yaml")
    pod.set_flag("--encryption-provider-config", "/etc/kubernetes/enc/enc.yaml")
    pod.set_flag("--audit-log-path", "/var/log/kubernetes/audit/audit.log")
    pod.set_flag("--audit-policy-file", "audit.yaml")
    relative, encryption, audit_log = lint(pod)
    assert "--audit-policy-file=audit.yaml is a relative path" in relative
    assert "--encryption-provider-config=/etc/kubernetes/enc/enc.yaml is not inside any hostPath" in encryption
    assert "add a hostPath volume for /etc/kubernetes/enc/enc.yaml (type File, readOnly: true)" in encryption
    assert "add a writable hostPath volume for /var/log/kubernetes/audit (type DirectoryOrCreate)" in audit_log
    pod.add_host_path_volume("enc", "/etc/kubernetes/enc", "/etc/kubernetes/enc", True, "DirectoryOrCreate")
    pod.add_host_path_volume(
        "audit-log", "/var/log/kubernetes/audit", "/var/log/kubernetes/audit", True, "DirectoryOrCreate"
    )
    pod.set_flag("--audit-policy-file", "/etc/kubernetes/pki/audit.yaml")
    findings = lint(pod)
    assert len(findings) == 1 and "read-only mount 'audit-log'" in findings[0]
    pod.set_flag("--audit-log-path", "-")
    assert lint(pod) == []


def test_lint_etcd_data_dir_must_be_mounted() -> None:
    pod = _load("1.29.0/etcd.yaml")
    pod.set_flag("--data-dir", "/var/lib/etcd-other")
    assert ["--data-dir=/var/lib/etcd-other is not inside any hostPath" in f for f in lint(pod)] == [True]


def test_lint_misspelt_mount_fields_and_stray_arguments() -> None:
    text = _read("1.29.0/kube-scheduler.yaml").replace("      readOnly: true\n", "      readOlny: true\n")
    text = text.replace("    - --leader-elect=true\n", "    - --leader-elect=true\n    - stray\n")
    findings = lint(load_manifest(text))
    assert len(findings) == 2
    assert "stray argument 'stray'" in findings[0]
    assert "readOlny (did you mean readOnly?)" in findings[1] and "so the mount is writable" in findings[1]


def test_lint_unknown_version() -> None:
    pod = load_manifest(_MINIMAL.replace(":v1.29.0", ":latest").replace("6443", "0"))
    findings = lint(pod)
    assert "cannot read a version from the image" in findings[0]


def test_lint_text_prefixes_the_source() -> None:
    assert lint_text(_read("1.29.0/kube-apiserver.yaml"), "cp1:/etc/kubernetes/manifests/kube-apiserver.yaml") == []
    name = "1.20.11/kube-apiserver.yaml"
    assert all(f.startswith("cp1:x.yaml: ") for f in lint_text(_read(name), "cp1:x.yaml"))


# ----------------------------------------------------------------------------------------------------
# Property tests: random flag edits on real manifests
# ----------------------------------------------------------------------------------------------------

_FLAG_NAMES = st.from_regex(r"[a-z][a-z0-9]*(-[a-z0-9]+){0,3}", fullmatch=True).filter(lambda n: len(n) <= 40)
_FLAG_VALUES = st.text(
    alphabet=st.characters(
        codec="utf-8", categories=("L", "M", "N", "P", "S", "Z", "Cc", "Cf", "Co"), exclude_characters="\x00"
    ),
    max_size=40,
)
_KUBEADM_PODS = [name for name in PODS if name not in NOT_CANONICAL and "1.20.11" not in name]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_KUBEADM_PODS), flag=_FLAG_NAMES, value=_FLAG_VALUES)
def test_new_flag_round_trips_and_removing_it_restores_the_file(name: str, flag: str, value: str) -> None:
    text = _read(name)
    pod = load_manifest(text)
    if pod.has_flag(flag):
        return
    before = pod.flags()
    assert pod.set_flag(flag, value)
    dumped = dump_manifest(pod)
    again = load_manifest(dumped)
    assert again.get_flag(flag) == value
    assert again.flags() == {**before, f"--{flag}": value}
    assert again.argv() == pod.argv()
    assert dump_manifest(again) == dumped
    assert again.remove_flag(flag)
    assert again.flags() == before
    assert dump_manifest(again) == text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_KUBEADM_PODS), data=st.data())
def test_changing_an_existing_flag_and_back_restores_the_file(name: str, data: st.DataObject) -> None:
    text = _read(name)
    pod = load_manifest(text)
    flag, old = data.draw(st.sampled_from(sorted(pod.flags().items())))
    new = data.draw(_FLAG_VALUES)
    pod.set_flag(flag, new)
    assert load_manifest(dump_manifest(pod)).get_flag(flag) == new
    pod.set_flag(flag, old)
    assert dump_manifest(pod) == text


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["set", "remove"]),
        _FLAG_NAMES | st.sampled_from(["secure-port", "profiling"]),
        _FLAG_VALUES,
    ),
    max_size=12,
)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(_KUBEADM_PODS), ops=_OPS)
def test_random_edits_match_a_dict_model(name: str, ops: list[tuple[str, str, str]]) -> None:
    pod = _load(name)
    model = dict(pod.flags())
    for op, flag, value in ops:
        if op == "set":
            pod.set_flag(flag, value)
            model[f"--{flag}"] = value
        else:
            pod.remove_flag(flag)
            model.pop(f"--{flag}", None)
        assert pod.flags() == model
    again = load_manifest(dump_manifest(pod))
    assert again.flags() == model
    assert dump_manifest(again) == dump_manifest(pod)
