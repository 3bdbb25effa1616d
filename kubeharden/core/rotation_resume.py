"""Resuming a key rotation that was interrupted, from the control planes' files alone. Pure.

A serial roll-out leaves at most two neighbouring files of the documented rotation (new key added second, moved
first, old keys removed), and every one of them reads all the data; the furthest one some control plane already has
is rolled out everywhere, then the remaining steps run.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from kubeharden.core.encryption import (
    KEYED_PROVIDERS,
    EncryptionError,
    Key,
    ParsedConfig,
    ProviderEntry,
    ReadBack,
    RotationStep,
    Settings,
    merged_secrets,
    parse_config,
    render_config,
)

_KH_KEY = re.compile(r"^kh-\d{8}T\d{6}Z(?:-\d+)*$")
_RANKS = ("before", "added", "promoted", "retired")


def _rank(parsed: ParsedConfig, provider: str, resource: str, newest: str) -> str:
    first = parsed.providers_for(resource)
    keys = [k.name for k in first[0].keys] if first and first[0].type == provider else []
    if not keys or newest not in keys:
        return "before"
    if keys[0] != newest:
        return "added"
    return "promoted" if len(keys) > 1 else "retired"


def rotation_progress(found: Mapping[str, ReadBack], settings: Settings) -> tuple[str, list[RotationStep]] | None:
    """A rotation left half done, read from the control planes' files: (what the files show, the steps that finish
    it, the first rolling out the furthest file some control plane already has). None when no rotation is in
    progress (every file the same, with one key, or keys kubeharden did not name).

    Keys kubeharden makes are named for the UTC time they were made (``kh-20261202T101500Z``), so the newest key is
    the one a rotation was adding. Raises EncryptionError when the files hold different secrets under one name."""
    if settings.provider not in KEYED_PROVIDERS or not found:
        return None
    resource = settings.resources[0]
    parsed = {host: parse_config(read.text, f"the EncryptionConfiguration of {host}") for host, read in found.items()}
    merged, conflict = merged_secrets(parsed.values())
    if conflict is not None:
        listed = ", ".join(
            f"{h} sha256 {found[h].sha256[:12]} first key "
            f"{(c.providers_for(resource) or (ProviderEntry('none'),))[0].key_names[:1]}"
            for h, c in sorted(parsed.items())
        )
        raise EncryptionError(
            f"the control planes' EncryptionConfiguration files hold different secrets under the key name "
            f"{conflict} ({listed}); kubeharden cannot merge them and changed nothing: keep the file whose "
            "first key name is the one etcd's raw values carry (`etcdctl get /registry/secrets/NS/NAME "
            "--print-value-only | head -c 64` shows k8s:enc:<provider>:v1:<key name>:), because that key "
            "encrypted the data; copy it to every control plane, then run again"
        )
    secrets = {name: secret for (provider, name), secret in merged.items() if provider == settings.provider}
    names = sorted(n for n in secrets if _KH_KEY.match(n))
    if not names:
        return None
    newest = names[-1]
    ranks = {host: _rank(each, settings.provider, resource, newest) for host, each in parsed.items()}
    furthest = max(ranks.values(), key=_RANKS.index)
    if len({read.sha256 for read in found.values()}) == 1 and furthest in ("before", "retired"):
        return None  # nothing half done
    if furthest == "before":
        return None
    source = next(host for host, rank in ranks.items() if rank == furthest)
    keys = [Key(n, secrets[n]) for n in [newest, *[k for k in secrets if k != newest]]]
    old = [k for k in keys if k.name != newest]
    identity = ProviderEntry("identity")

    def config(ordered: list[Key]) -> str:
        return render_config(settings.resources, [ProviderEntry(settings.provider, tuple(ordered)), identity])

    steps = [RotationStep("resume", f"{furthest} step finished everywhere (the file of {source})", found[source].text)]
    if furthest == "added":
        steps.append(RotationStep("promote", f"new key {newest} moved first (encrypts new writes)", config(keys)))
    if furthest in ("added", "promoted"):
        steps.append(RotationStep("rewrite", "every configured resource rewritten with the new key", rewrite=True))
        names_old = ", ".join(k.name for k in old)
        steps.append(RotationStep("retire", f"old key(s) {names_old} removed", config([keys[0]])))
    where = ", ".join(sorted(h for h, r in ranks.items() if r == furthest))
    return f"a rotation to key {newest} stopped after its {furthest} step (furthest on {where})", steps
