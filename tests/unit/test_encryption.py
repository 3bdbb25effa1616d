"""Secrets encryption at rest, the pure parts: rendering and parsing the EncryptionConfiguration, the key lifecycle
decisions (no file, one, all equal, mismatch), rotation steps, the planner's use of the file, and verification's
judgement of what the host reported (names and hashes only)."""

from __future__ import annotations

import base64
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubeharden.core import encryption
from kubeharden.core.catalog import by_id
from kubeharden.core.encryption import EncryptionError, Key, ReadBack, Settings
from kubeharden.core.judge import cross_check_encryption, judge_control
from kubeharden.core.manifests import load_manifest
from kubeharden.core.planning import CONFIG_ANNOTATION, plan_component
from kubeharden.core.profile import DEFAULTS, Profile
from kubeharden.core.results import Status
from kubeharden.core.state import host_state

DATA = Path(__file__).resolve().parents[1] / "data" / "kubeadm"
SECRET_A = base64.b64encode(b"A" * 32).decode()
SECRET_B = base64.b64encode(b"B" * 32).decode()
_counter = itertools.count(1)


def _key(secret: str = SECRET_B) -> Key:
    return Key(f"kh-test{next(_counter)}", secret)


def _read(text: str) -> ReadBack:
    return ReadBack(encryption.sha256_text(text), text)


def _config(keys: list[Key], provider: str = "secretbox", resources: tuple[str, ...] = ("secrets",)) -> str:
    return encryption.render_config(
        resources, [encryption.ProviderEntry(provider, tuple(keys)), encryption.ProviderEntry("identity")]
    )


# ----------------------------------------------------------------------------------------------------
# Rendering and parsing
# ----------------------------------------------------------------------------------------------------


def test_new_key_is_32_random_bytes_and_never_in_its_repr() -> None:
    key = encryption.new_key(random=lambda n: b"\x01" * n, now=lambda: 0)
    assert key.name == "kh-19700101T000000Z"
    assert len(base64.b64decode(key.secret)) == 32
    assert key.secret not in repr(key)
    assert encryption.new_key().secret != encryption.new_key().secret
    read = _read("secret: " + SECRET_A)
    assert SECRET_A not in repr(read)


def test_rendered_config_is_a_valid_encryption_configuration() -> None:
    text = _config([Key("k1", SECRET_A)], resources=("secrets", "configmaps"))
    doc = yaml.safe_load(text)
    assert doc["apiVersion"] == "apiserver.config.k8s.io/v1"
    assert doc["kind"] == "EncryptionConfiguration"
    assert doc["resources"] == [
        {
            "resources": ["secrets", "configmaps"],
            "providers": [{"secretbox": {"keys": [{"name": "k1", "secret": SECRET_A}]}}, {"identity": {}}],
        }
    ]
    assert _config([Key("k1", SECRET_A)], resources=("secrets", "configmaps")) == text  # deterministic


def test_kms_v2_config_has_name_endpoint_and_no_key() -> None:
    settings = Settings("kms", ("secrets",), "my-kms", "unix:///var/run/kms/socket.sock")
    text, generated = encryption.desired_config(settings, None)
    assert not generated
    provider = yaml.safe_load(text)["resources"][0]["providers"][0]["kms"]
    assert provider == {
        "apiVersion": "v2",
        "name": "my-kms",
        "endpoint": "unix:///var/run/kms/socket.sock",
        "timeout": "3s",
    }


def test_parse_reads_every_rule_and_provider() -> None:
    text = """
apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [configmaps]
    providers:
      - identity: {}
  - resources: [secrets]
    providers:
      - aescbc:
          keys: [{name: old, secret: SA}]
      - secretbox:
          keys: [{name: k2, secret: SB}]
      - identity: {}
""".replace("SA", SECRET_A).replace("SB", SECRET_B)
    parsed = encryption.parse_config(text)
    assert [p.type for p in parsed.providers_for("secrets")] == ["aescbc", "secretbox", "identity"]
    assert [p.type for p in parsed.providers_for("configmaps")] == ["identity"]
    summary = encryption.summarize(parsed)
    assert summary.first_provider("secrets") == ("aescbc", ("old",))
    assert SECRET_A not in repr(summary) and SECRET_A not in repr(parsed)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("kind: Secret\n", "not an EncryptionConfiguration"),
        ("a: [\n", "not valid YAML"),
        ("apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n", "no resources rule"),
        (
            "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n"
            f"- resources: [secrets]\n  providers:\n  - secretbox:\n      keys: [{{secret: {SECRET_A}}}]\n",
            "key without name/secret",
        ),
    ],
)
def test_parse_errors_are_sentences_without_the_file(text: str, words: str) -> None:
    with pytest.raises(EncryptionError, match=words) as caught:
        encryption.parse_config(text, "/etc/x.yaml on cp1")
    assert SECRET_A not in str(caught.value)


# ----------------------------------------------------------------------------------------------------
# Key lifecycle: none / one / all equal / mismatch
# ----------------------------------------------------------------------------------------------------


def test_no_file_anywhere_generates_one_key() -> None:
    assert encryption.shared_config({"cp1": None, "cp2": None}) is None
    text, generated = encryption.desired_config(Settings(), None, make_key=lambda: Key("kh-new", SECRET_A))
    assert generated
    assert encryption.parse_config(text).all_keys("secretbox") == [Key("kh-new", SECRET_A)]


def test_one_control_plane_with_the_file_is_read_back_never_regenerated() -> None:
    existing = _read(_config([Key("kh-1", SECRET_A)]))
    shared = encryption.shared_config({"cp1": existing, "cp2": None})
    assert shared == existing

    def fail() -> Key:
        raise AssertionError("a key was generated over an existing one")

    text, generated = encryption.desired_config(Settings(), shared, make_key=fail)
    assert not generated and text == existing.text  # the same bytes: the same hash, nothing changes


def test_all_equal_files_are_kept_byte_for_byte() -> None:
    existing = _read(_config([Key("kh-1", SECRET_A), Key("kh-0", SECRET_B)]))
    shared = encryption.shared_config({"cp1": existing, "cp2": existing, "cp3": existing})
    text, generated = encryption.desired_config(Settings(), shared)
    assert (text, generated) == (existing.text, False)


def test_mismatching_files_stop_with_hosts_and_short_hashes_only() -> None:
    one, two = _read(_config([Key("kh-1", SECRET_A)])), _read(_config([Key("kh-2", SECRET_B)]))
    with pytest.raises(EncryptionError) as caught:
        encryption.shared_config({"cp1": one, "cp2": two})
    message = str(caught.value)
    assert "cp1 sha256 " + one.sha256[:12] in message and "cp2 sha256 " + two.sha256[:12] in message
    assert "changed nothing" in message
    assert SECRET_A not in message and SECRET_B not in message


def test_keys_of_other_providers_are_never_dropped() -> None:
    existing = _read(_config([Key("legacy", SECRET_A)], provider="aescbc"))
    text, generated = encryption.desired_config(Settings(), existing, make_key=lambda: Key("kh-new", SECRET_B))
    parsed = encryption.parse_config(text)
    assert generated
    assert [(p.type, p.key_names) for p in parsed.providers_for("secrets")] == [
        ("secretbox", ("kh-new",)),
        ("aescbc", ("legacy",)),
        ("identity", ()),
    ]


def test_resources_from_the_settings_are_written() -> None:
    existing = _read(_config([Key("kh-1", SECRET_A)]))
    text, _ = encryption.desired_config(Settings(resources=("secrets", "configmaps")), existing)
    assert encryption.parse_config(text).rules[0][0] == ("secrets", "configmaps")
    assert encryption.parse_config(text).all_keys("secretbox") == [Key("kh-1", SECRET_A)]


# ----------------------------------------------------------------------------------------------------
# Rotation steps
# ----------------------------------------------------------------------------------------------------


def test_rotation_adds_second_then_promotes_then_rewrites_then_retires() -> None:
    current = _config([Key("old", SECRET_A)])
    steps = encryption.rotation_steps(current, Settings(), make_key=lambda: Key("new", SECRET_B))
    assert [s.name for s in steps] == ["add", "promote", "rewrite", "retire"]
    keys = [
        [k.name for k in encryption.parse_config(s.config).all_keys("secretbox")] if s.config else None for s in steps
    ]
    assert keys == [["old", "new"], ["new", "old"], None, ["new"]]
    assert steps[2].rewrite
    for step in steps:
        assert SECRET_A not in repr(step) and SECRET_B not in repr(step) and SECRET_B not in step.description


def test_rotation_keeps_every_older_key_until_the_last_step() -> None:
    current = _config([Key("k2", SECRET_A), Key("k1", SECRET_B)])
    steps = encryption.rotation_steps(current, Settings(), make_key=lambda: Key("k3", SECRET_B))
    names = [[k.name for k in encryption.parse_config(s.config).all_keys("secretbox")] for s in steps if s.config]
    assert names == [["k2", "k3", "k1"], ["k3", "k2", "k1"], ["k3"]]


def test_rotation_new_key_name_never_collides() -> None:
    current = _config([Key("same", SECRET_A)])
    steps = encryption.rotation_steps(current, Settings(), make_key=lambda: Key("same", SECRET_B))
    assert "same-1" in steps[0].description


@pytest.mark.parametrize(
    ("current", "settings", "words"),
    [
        (_config([Key("k", SECRET_A)]), Settings("kms", ("secrets",), "k", "unix:///s"), "KMS plugin"),
        (_config([Key("k", SECRET_A)], provider="aescbc"), Settings(), "run `kubeharden harden` first"),
    ],
)
def test_rotation_refuses_what_it_cannot_rotate(current: str, settings: Settings, words: str) -> None:
    with pytest.raises(EncryptionError, match=words):
        encryption.rotation_steps(current, settings)


# ----------------------------------------------------------------------------------------------------
# The planner
# ----------------------------------------------------------------------------------------------------


def _plan(config: str | None) -> Any:
    text = (DATA / "1.34.4-lab" / "kube-apiserver.yaml").read_text()
    return plan_component(
        text, DEFAULTS, manifest_path="/etc/kubernetes/manifests/kube-apiserver.yaml", encryption_config=config
    )


def test_planner_writes_the_file_mounts_it_read_only_and_sets_the_flag() -> None:
    config = _config([Key("kh-1", SECRET_A)])
    plan = _plan(config)
    assert plan.problems == []
    path = DEFAULTS["kubeharden_encryption_config_file"]
    pod = load_manifest(plan.after)
    assert pod.get_flag("--encryption-provider-config") == path
    found = pod.volume_for_path(path)
    assert found is not None and found[1].read_only and found[0].type == "File"
    planned = next(f for f in plan.files if f.path == path)
    assert (planned.content, planned.mode, planned.owner) == (config, 0o600, "root:root")
    assert ("/etc/kubernetes/encryption", 0o700) in plan.directories
    assert SECRET_A not in plan.after
    assert all(SECRET_A not in c.description for c in plan.changes)


def test_a_new_key_changes_the_config_hash_annotation_so_the_apiserver_restarts() -> None:
    one, two = _plan(_config([Key("kh-1", SECRET_A)])), _plan(_config([Key("kh-1", SECRET_B)]))
    annotation = [load_manifest(p.after).document["metadata"]["annotations"][CONFIG_ANNOTATION] for p in (one, two)]
    assert annotation[0] != annotation[1]
    again = plan_component(
        one.after,
        DEFAULTS,
        manifest_path="/etc/kubernetes/manifests/kube-apiserver.yaml",
        encryption_config=_config([Key("kh-1", SECRET_A)]),
    )
    assert not again.changed


def test_planner_without_a_config_leaves_encryption_alone() -> None:
    plan = _plan(None)
    assert load_manifest(plan.after).get_flag("--encryption-provider-config") is None
    assert any("1.2.27" in note for note in plan.notes)


def test_encryption_waiver_leaves_the_flag_alone() -> None:
    profile = {**DEFAULTS, "kubeharden_waivers": {"encryption": "the KMS team owns this file"}}
    text = (DATA / "1.34.4-lab" / "kube-apiserver.yaml").read_text()
    plan = plan_component(
        text,
        profile,
        manifest_path="/etc/kubernetes/manifests/kube-apiserver.yaml",
        encryption_config=_config([Key("k", SECRET_A)]),
    )
    assert load_manifest(plan.after).get_flag("--encryption-provider-config") is None


# ----------------------------------------------------------------------------------------------------
# Verification's judgement of what the host reported
# ----------------------------------------------------------------------------------------------------


def _state(encryption_doc: dict[str, Any], host: str = "cp1") -> Any:
    manifest = (DATA / "1.34.4-lab" / "kube-apiserver.yaml").read_text()
    document = {"components": {"kube-apiserver": {"manifest": manifest, "processes": []}}, "encryption": encryption_doc}
    return host_state(host, "control_plane", "10.0.0.1", document)


def _config_doc(first: str = "secretbox", key: str = "kh-1") -> dict[str, Any]:
    return {
        "path": "/etc/kubernetes/encryption/encryption-config.yaml",
        "sha256": "ab" * 32,
        "rules": [{"resources": ["secrets"], "providers": [{"type": first, "keys": [key]}, {"type": "identity"}]}],
    }


@pytest.mark.parametrize(
    ("first", "status"),
    [("secretbox", Status.PASS), ("kms", Status.PASS), ("aescbc", Status.WARN), ("identity", Status.FAIL)],
)
def test_provider_is_judged_from_the_whole_file(first: str, status: Status) -> None:
    result = judge_control(_state({"config": _config_doc(first)}), by_id()["1.2.28"], Profile(DEFAULTS))
    assert result.status is status, result


def test_provider_fails_when_no_rule_covers_secrets() -> None:
    doc = _config_doc()
    doc["rules"][0]["resources"] = ["configmaps"]
    result = judge_control(_state({"config": doc}), by_id()["1.2.28"], Profile(DEFAULTS))
    assert result.status is Status.FAIL and "no rule for secrets" in result.observed


@pytest.mark.parametrize(
    ("prefixes", "status"),
    [
        ({"k8s:enc:secretbox:v1:kh-1": 3}, Status.PASS),
        ({"k8s:enc:secretbox:v1:kh-1": 3, "unencrypted": 1}, Status.FAIL),
        ({"k8s:enc:secretbox:v1:kh-0": 1}, Status.WARN),
    ],
)
def test_live_proof_compares_raw_prefixes_with_the_first_key(prefixes: dict[str, int], status: Status) -> None:
    doc = {"config": _config_doc(), "etcd": {"secrets": {"sampled": sum(prefixes.values()), "prefixes": prefixes}}}
    result = judge_control(_state(doc), by_id()["KH-ENC-live"], Profile(DEFAULTS))
    assert result.status is status, result


def test_live_proof_without_etcdctl_is_a_warning_with_the_reason() -> None:
    doc = {"config": _config_doc(), "etcd": {"error": "etcdctl is not installed on the host"}}
    result = judge_control(_state(doc), by_id()["KH-ENC-live"], Profile(DEFAULTS))
    assert result.status is Status.WARN and "etcdctl is not installed" in result.reason


def test_etcd_volume_is_reported_never_failed() -> None:
    plain = {
        "volume": {"path": "/var/lib/etcd", "device": "0:52", "encrypted": False, "reason": "not on a block device"}
    }
    result = judge_control(_state(plain), by_id()["KH-ENC-VOLUME"], Profile(DEFAULTS))
    assert result.status is Status.WARN
    crypt = {"volume": {"path": "/var/lib/etcd", "device": "253:1", "encrypted": True, "chain": ["dm-1", "dm-0"]}}
    assert judge_control(_state(crypt), by_id()["KH-ENC-VOLUME"], Profile(DEFAULTS)).status is Status.PASS


def test_identical_files_are_compared_across_control_planes_by_hash() -> None:
    control = by_id()["KH-ENC-SAME"]
    results = [judge_control(_state({"config": _config_doc()}, h), control, Profile(DEFAULTS)) for h in ("a", "b")]
    assert all(r.status is Status.SKIP for r in results)
    same = cross_check_encryption({"a": "ab" * 32, "b": "ab" * 32}, results)
    assert [r.status for r in same] == [Status.PASS, Status.PASS]
    differ = cross_check_encryption({"a": "ab" * 32, "b": "cd" * 32}, results)
    assert [r.status for r in differ] == [Status.FAIL, Status.FAIL]
    missing = cross_check_encryption({"a": "ab" * 32, "b": None}, results)
    assert missing[0].status is Status.FAIL and "no file on b" in missing[0].reason


# ----------------------------------------------------------------------------------------------------
# The collection script's side (runs on the host): names and a hash leave it, never a secret
# ----------------------------------------------------------------------------------------------------


def test_the_host_side_parse_returns_names_and_hash_only(tmp_path: Path) -> None:
    from kubeharden.host.onhost import collector_encryption as remote

    text = _config([Key("kh-1", SECRET_A), Key("kh-0", SECRET_B)], resources=("secrets", "configmaps"))
    path = tmp_path / "enc.yaml"
    path.write_text(text)
    found = remote.encryption_config(str(path), "", 262144)
    assert found["sha256"] == encryption.sha256_text(text)
    assert found["rules"] == [
        {
            "resources": ["secrets", "configmaps"],
            "providers": [{"type": "secretbox", "keys": ["kh-1", "kh-0"]}, {"type": "identity", "keys": []}],
        }
    ]
    dumped = json.dumps(found)
    assert SECRET_A not in dumped and SECRET_B not in dumped


def test_the_host_side_parse_error_never_quotes_the_file(tmp_path: Path) -> None:
    from kubeharden.host.onhost import collector_encryption as remote

    path = tmp_path / "enc.yaml"
    path.write_text(f"kind: EncryptionConfiguration\nresources: [\n  secret: {SECRET_A}\n  - x\n")
    found = remote.encryption_config(str(path), "", 262144)
    assert found["error"].startswith("not valid YAML")
    assert SECRET_A not in json.dumps(found)
    assert remote.encryption_config(str(tmp_path / "missing"), "", 100) == {
        "path": str(tmp_path / "missing"),
        "missing": True,
    }


def test_a_directory_not_on_dm_crypt_is_reported_as_such(tmp_path: Path) -> None:
    from kubeharden.host.onhost import collector_encryption as remote

    found = remote.data_dir_device(str(tmp_path))
    assert found["encrypted"] is False and found["path"] == str(tmp_path)
