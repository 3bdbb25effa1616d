"""A rotate-key interrupted at any point continues from the control planes' files (no journal needed: keys are
named for the time they were made, so the key a rotation was adding is the newest)."""

from __future__ import annotations

import hashlib

import pytest

from kubeharden.core import encryption
from kubeharden.core.encryption import EncryptionError, Key, ReadBack
from kubeharden.core.profile import DEFAULTS
from kubeharden.core.rotation_resume import rotation_progress
from kubeharden.faces.rotate_cli import plan_rotation

OLD = Key("kh-20261201T100000Z", "b2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkb2xkMTI=")
NEW = Key("kh-20261202T100000Z", "bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3bmV3MTI=")
SETTINGS = encryption.settings_from_profile(DEFAULTS)
PATH = "/etc/kubernetes/encryption/encryption-config.yaml"


def _file(keys: list[Key]) -> ReadBack:
    text = encryption.render_config(
        SETTINGS.resources, [encryption.ProviderEntry("secretbox", tuple(keys)), encryption.ProviderEntry("identity")]
    )
    return ReadBack(hashlib.sha256(text.encode()).hexdigest(), text)


BEFORE, ADDED, PROMOTED, RETIRED = _file([OLD]), _file([OLD, NEW]), _file([NEW, OLD]), _file([NEW])


def _steps(found: dict[str, ReadBack]) -> list[str]:
    progress = rotation_progress(found, SETTINGS)
    assert progress is not None
    return [s.name for s in progress[1]]


@pytest.mark.parametrize(
    ("cp1", "cp2", "steps"),
    [
        (ADDED, BEFORE, ["resume", "promote", "rewrite", "retire"]),
        (ADDED, ADDED, ["resume", "promote", "rewrite", "retire"]),
        (PROMOTED, ADDED, ["resume", "rewrite", "retire"]),
        (PROMOTED, PROMOTED, ["resume", "rewrite", "retire"]),
        (RETIRED, PROMOTED, ["resume"]),
    ],
)
def test_an_interrupted_rotation_continues_from_its_furthest_file(
    cp1: ReadBack, cp2: ReadBack, steps: list[str]
) -> None:
    assert _steps({"cp1": cp1, "cp2": cp2}) == steps
    progress = rotation_progress({"cp1": cp1, "cp2": cp2}, SETTINGS)
    assert progress is not None and progress[1][0].config == cp1.text
    if "retire" in steps:
        retired = encryption.parse_config(str(progress[1][-1].config)).providers_for("secrets")[0]
        assert retired.key_names == (NEW.name,)


@pytest.mark.parametrize("files", [[BEFORE, BEFORE], [RETIRED, RETIRED]])
def test_no_rotation_in_progress_starts_a_new_one(files: list[ReadBack]) -> None:
    found = dict(zip(["cp1", "cp2"], files, strict=True))
    assert rotation_progress(found, SETTINGS) is None
    resumed, steps = plan_rotation(dict(found), SETTINGS, PATH)
    assert resumed is None and [s.name for s in steps] == ["add", "promote", "rewrite", "retire"]


def test_files_with_two_secrets_under_one_name_say_which_file_to_keep() -> None:
    other = _file([Key(NEW.name, "b3RoZXJvdGhlcm90aGVyb3RoZXJvdGhlcm90aGVyMTI=")])
    with pytest.raises(EncryptionError) as info:
        rotation_progress({"cp1": RETIRED, "cp2": other}, SETTINGS)
    text = str(info.value)
    assert "keep the file whose first key name is the one etcd's raw values carry" in text
    assert RETIRED.sha256[:12] in text and other.sha256[:12] in text
    assert NEW.secret not in text


def test_a_missing_file_is_refused_with_the_host() -> None:
    with pytest.raises(EncryptionError, match="missing on cp2"):
        plan_rotation({"cp1": ADDED, "cp2": None}, SETTINGS, PATH)
