"""The first encryption enablement on several control planes goes in two passes, and resumes after interruption.

A Secret written through the first apiserver that encrypts must be readable through every other one, so every
apiserver first gets the key BEHIND identity (readers), and only a second pass puts it first (writer) and rewrites.
The decision is made from what the control planes have, so an interrupted pass continues where it stopped.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from kubeharden.core import encryption
from kubeharden.core.encryption import EncryptionError, Key
from kubeharden.core.profile_checks import validate_inventory
from kubeharden.core.runplan import Target, decide_encryption, plan_run
from kubeharden.core.state import FileStat, host_state

DATA = Path(__file__).parents[1] / "data" / "kubeadm"
PATH = "/etc/kubernetes/encryption/encryption-config.yaml"
ADMIN = {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"], "ssh_strict_host_key_checking": "yes"}
KEY = Key("kh-test", "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=")


def _manifest() -> str:
    return next(p for p in sorted(DATA.rglob("kube-apiserver*.yaml")) if "1.34" in p.read_text()).read_text()


def _targets(count: int) -> list[Target]:
    hosts = {f"cp{i}": (["control_plane"], {**ADMIN, "ssh_hostname": f"192.0.2.{i}"}) for i in range(1, count + 1)}
    profiles = validate_inventory(hosts)
    return [Target(n, "control_plane", ("control_plane",), d, profiles[n]) for n, (_, d) in hosts.items()]


def _state(name: str, config: str | None, flag: bool = False) -> Any:
    secret: dict[str, Any] = {"missing": True}
    if config is not None:
        secret = {"missing": False, "text": config, "sha256": hashlib.sha256(config.encode()).hexdigest()}
    manifest = _manifest()
    if flag:
        manifest = manifest.replace(
            "- kube-apiserver\n", f"- kube-apiserver\n    - --encryption-provider-config={PATH}\n", 1
        )
        assert PATH in manifest
    document = {"components": {"kube-apiserver": {"manifest": manifest}}, "secrets": {PATH: secret}}
    return host_state(name, "control_plane", "192.0.2.1", document)


def _settings(targets: list[Target]) -> encryption.Settings:
    return encryption.settings_from_profile(targets[0].profile.values)


def _final(targets: list[Target]) -> str:
    return encryption.desired_config(_settings(targets), None, make_key=lambda: KEY)[0]


def _decide(targets: list[Target], files: dict[str, str | None]) -> Any:
    states = {t.name: _state(t.name, files.get(t.name)) for t in targets}
    return decide_encryption(targets, states, None, make_key=lambda: KEY)


def test_two_control_planes_get_the_key_behind_identity_first() -> None:
    targets = _targets(2)
    decision = _decide(targets, {})
    assert decision.stage == "readers" and decision.generated and not decision.rewrite
    first = encryption.parse_config(decision.config).providers_for("secrets")
    assert [p.type for p in first] == ["identity", "secretbox"] and first[1].keys == (KEY,)


def test_the_readers_pass_plans_the_flag_and_defers_the_first_provider_control() -> None:
    targets = _targets(2)
    states = {t.name: _state(t.name, None) for t in targets}
    first = plan_run(targets, states, make_key=lambda: KEY)
    needed = {p for plan in first.hosts["cp1"].components for p in plan.required_paths}
    for state in states.values():
        state.files.update({p: FileStat(p, True, 0o600, "root", "root", "file", "host", None, None) for p in needed})
    run = plan_run(targets, states, make_key=lambda: KEY)
    assert not run.problems, run.problems
    api = next(p for p in run.hosts["cp1"].components if p.component == "kube-apiserver")
    assert "--encryption-provider-config=" + PATH in api.after
    assert any("1.2.28" in n and "next pass" in n for n in api.notes)
    assert run.hosts["cp2"].rewrite == []


def test_once_every_control_plane_reads_the_key_it_becomes_the_writer_and_resources_are_rewritten() -> None:
    targets = _targets(2)
    readers = encryption.readers_config(_settings(targets), _final(targets))
    decision = _decide(targets, {"cp1": readers, "cp2": readers})
    assert decision.stage == "final" and decision.rewrite and not decision.generated
    assert decision.config == _final(targets)


@pytest.mark.parametrize("done", ["cp1", "cp2"])
def test_an_interrupted_readers_pass_continues_with_the_same_key(done: str) -> None:
    targets = _targets(2)
    readers = encryption.readers_config(_settings(targets), _final(targets))

    def no_new_key() -> Key:
        raise AssertionError("a key exists on a control plane: it must be reused")

    states = {t.name: _state(t.name, readers if t.name == done else None) for t in targets}
    decision = decide_encryption(targets, states, None, make_key=no_new_key)
    assert decision.stage == "readers" and decision.config == readers


def test_an_interrupted_final_pass_continues_to_the_final_file_and_rewrites() -> None:
    targets = _targets(2)
    final = _final(targets)
    readers = encryption.readers_config(_settings(targets), final)
    decision = _decide(targets, {"cp1": final, "cp2": readers})
    assert decision.stage == "final" and decision.config == final and decision.rewrite


def test_files_with_different_secrets_under_one_key_name_still_stop_the_run() -> None:
    targets = _targets(2)
    final = _final(targets)
    other = encryption.readers_config(_settings(targets), final).replace(
        KEY.secret, "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI="
    )
    with pytest.raises(EncryptionError, match="different EncryptionConfiguration"):
        _decide(targets, {"cp1": final, "cp2": other})


def test_one_control_plane_needs_no_readers_pass() -> None:
    decision = _decide(_targets(1), {})
    assert decision.stage == "final" and decision.rewrite


def test_an_encrypted_cluster_stays_as_it_is() -> None:
    targets = _targets(3)
    final = _final(targets)
    states = {t.name: _state(t.name, final, flag=True) for t in targets}
    decision = decide_encryption(targets, states, None, make_key=lambda: KEY)
    assert decision.stage == "final" and decision.config == final and not decision.rewrite
