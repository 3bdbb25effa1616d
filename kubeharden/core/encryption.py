"""Secrets encryption at rest: the EncryptionConfiguration kubeharden writes, how it reads one back, and the key
lifecycle decisions (generate once, reuse, refuse on disagreement, rotate in safe steps).

Pure logic, no I/O on any host: texts and hashes in, texts and decisions out. A key's secret never appears in a
repr, an error or a description; only key NAMES and sha256 hashes of whole files do. Rules a reader should know:
- A key is generated only when no control plane has the file; otherwise the hosts' file is read back and its keys
  kept. If the control planes' files differ (sha256) nothing is decided and the run stops.
- Key material is never dropped by ``harden``: keys of other providers found in the file stay, after the profile's
  provider, so data written with them stays readable. Only ``rotate-key``'s last step removes a key.
- ``identity`` is always last: Secrets written before encryption was enabled stay readable until rewritten.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

__all__ = [
    "KEYED_PROVIDERS",
    "PROVIDERS",
    "STRONG_PROVIDERS",
    "ConfigSummary",
    "EncryptionError",
    "Key",
    "ParsedConfig",
    "ProviderEntry",
    "ReadBack",
    "RotationStep",
    "Settings",
    "desired_config",
    "new_key",
    "parse_config",
    "render_config",
    "rotation_steps",
    "settings_from_profile",
    "sha256_text",
    "shared_config",
    "summarize",
]

API_VERSION = "apiserver.config.k8s.io/v1"
KIND = "EncryptionConfiguration"
PROVIDERS = ("secretbox", "aescbc", "aesgcm", "kms")
"""Providers the profile may choose (kubeharden_encryption_provider)."""
KEYED_PROVIDERS = ("secretbox", "aescbc", "aesgcm")
"""Providers whose keys live in the file (32-byte keys, base64)."""
STRONG_PROVIDERS = ("secretbox", "kms")
"""Judged PASS as the first provider; aescbc (padding oracle) and aesgcm (rotate every 200k writes) are WARN."""
RESOURCES = ("secrets", "configmaps")
KEY_BYTES = 32
_KEY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class EncryptionError(ValueError):
    """The encryption configuration cannot be decided or read; the message is a sentence for the operator and
    never contains key material."""


@dataclass(frozen=True)
class Key:
    """One key of a keyed provider; ``secret`` (base64) never shows in a repr."""

    name: str
    secret: str = field(repr=False)


@dataclass(frozen=True)
class ProviderEntry:
    """One provider of a resource rule: its type, key names, and (kms) name/endpoint. Keys are kept in order."""

    type: str
    keys: tuple[Key, ...] = ()
    kms_name: str = ""
    kms_endpoint: str = ""
    kms_api_version: str = ""

    @property
    def key_names(self) -> tuple[str, ...]:
        return tuple(k.name for k in self.keys)


@dataclass(frozen=True)
class ParsedConfig:
    """A whole EncryptionConfiguration: per resource rule, the resources and the providers in order."""

    rules: tuple[tuple[tuple[str, ...], tuple[ProviderEntry, ...]], ...]

    def providers_for(self, resource: str) -> tuple[ProviderEntry, ...]:
        for resources, providers in self.rules:
            if resource in resources or f"{resource}." in resources or "*.*" in resources:
                return providers
        return ()

    def all_keys(self, provider: str) -> list[Key]:
        """Every key of ``provider`` in the file (first rule first), names unique."""
        seen: dict[str, Key] = {}
        for _, providers in self.rules:
            for entry in providers:
                if entry.type == provider:
                    for key in entry.keys:
                        seen.setdefault(key.name, key)
        return list(seen.values())


@dataclass(frozen=True)
class Settings:
    """What the profile asks for."""

    provider: str = "secretbox"
    resources: tuple[str, ...] = ("secrets",)
    kms_name: str = ""
    kms_endpoint: str = ""


@dataclass(frozen=True)
class ReadBack:
    """The EncryptionConfiguration as read from one control plane: its sha256 and text (text never in a repr)."""

    sha256: str
    text: str = field(repr=False)


@dataclass(frozen=True)
class ConfigSummary:
    """What may be reported about a file: resources, provider types and key NAMES per rule, never a secret."""

    rules: tuple[tuple[tuple[str, ...], tuple[tuple[str, tuple[str, ...]], ...]], ...]

    def first_provider(self, resource: str = "secrets") -> tuple[str, tuple[str, ...]] | None:
        for resources, providers in self.rules:
            if resource in resources or "*.*" in resources:
                return providers[0] if providers else None
        return None


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings_from_profile(values: Mapping[str, Any]) -> Settings:
    return Settings(
        provider=str(values["kubeharden_encryption_provider"]),
        resources=tuple(dict.fromkeys(str(r) for r in values["kubeharden_encryption_resources"])),
        kms_name=str(values["kubeharden_encryption_kms_name"] or ""),
        kms_endpoint=str(values["kubeharden_encryption_kms_endpoint"] or ""),
    )


def new_key(random: Callable[[int], bytes] = os.urandom, now: Callable[[], float] = time.time) -> Key:
    """A fresh key: 32 bytes from the operating system's random source, named for the UTC time it was made."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now()))
    return Key(f"kh-{stamp}", base64.b64encode(random(KEY_BYTES)).decode())


# ----------------------------------------------------------------------------------------------------
# Rendering
# ----------------------------------------------------------------------------------------------------

_HEADER = (
    "# Managed by kubeharden (controls 1.2.27, 1.2.28): kube-apiserver's --encryption-provider-config.\n"
    "# The first provider encrypts, all are tried on read. Identical on every control plane, mode 600 root.\n"
    "# Never edit keys by hand: `kubeharden rotate-key INVENTORY` rotates them without losing data.\n"
)


def _provider_yaml(entry: ProviderEntry) -> str:
    if entry.type == "identity":
        return "      - identity: {}\n"
    if entry.type == "kms":
        return (
            "      - kms:\n"
            f"          apiVersion: {entry.kms_api_version or 'v2'}\n"
            f"          name: {_scalar(entry.kms_name)}\n"
            f"          endpoint: {_scalar(entry.kms_endpoint)}\n"
            "          timeout: 3s\n"
        )
    lines = [f"      - {entry.type}:\n", "          keys:\n"]
    for key in entry.keys:
        lines.append(f"            - name: {_scalar(key.name)}\n")
        lines.append(f"              secret: {_scalar(key.secret)}\n")
    return "".join(lines)


def _scalar(value: str) -> str:
    """A YAML scalar that loads back as exactly ``value`` (JSON strings are YAML)."""
    import json

    return json.dumps(value)


def render_config(resources: Sequence[str], providers: Sequence[ProviderEntry]) -> str:
    """The EncryptionConfiguration text: one rule for ``resources`` with ``providers`` in order (deterministic:
    the same input gives the same bytes, so a re-run compares equal by hash)."""
    if not providers:
        raise EncryptionError("an EncryptionConfiguration needs at least one provider")
    for entry in providers:
        if entry.type in KEYED_PROVIDERS and not entry.keys:
            raise EncryptionError(f"provider {entry.type} needs at least one key")
        for key in entry.keys:
            if not _KEY_NAME.match(key.name):
                raise EncryptionError(f"key name {key.name!r} is not a valid key name (letters, digits, . _ -)")
    body = [_HEADER, f"apiVersion: {API_VERSION}\n", f"kind: {KIND}\n", "resources:\n", "  - resources:\n"]
    body += [f"      - {_scalar(r)}\n" for r in resources]
    body.append("    providers:\n")
    body += [_provider_yaml(entry) for entry in providers]
    return "".join(body)


# ----------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------


def parse_config(text: str, where: str = "the EncryptionConfiguration") -> ParsedConfig:
    """Parse a whole EncryptionConfiguration (every rule, every provider). Raises EncryptionError with a sentence
    naming ``where`` and never quoting the file."""
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError:
        raise EncryptionError(f"{where} is not valid YAML") from None
    if not isinstance(document, dict) or document.get("kind") != KIND:
        raise EncryptionError(f"{where} is not an {KIND} (kind is missing or different)")
    if document.get("apiVersion") not in (API_VERSION, "apiserver.config.k8s.io/v1beta1"):
        raise EncryptionError(f"{where} has apiVersion {document.get('apiVersion')!r}, expected {API_VERSION}")
    rules = []
    for index, rule in enumerate(document.get("resources") or []):
        if not isinstance(rule, dict):
            raise EncryptionError(f"{where}: resources[{index}] is not a mapping")
        resources = tuple(str(r) for r in rule.get("resources") or [])
        providers: list[ProviderEntry] = []
        for p_index, provider in enumerate(rule.get("providers") or []):
            if not isinstance(provider, dict) or len(provider) != 1:
                raise EncryptionError(f"{where}: resources[{index}].providers[{p_index}] must name one provider")
            ((kind, body),) = provider.items()
            body = body if isinstance(body, dict) else {}
            if kind in KEYED_PROVIDERS:
                keys = []
                for key in body.get("keys") or []:
                    if not isinstance(key, dict) or not key.get("name") or not key.get("secret"):
                        raise EncryptionError(
                            f"{where}: resources[{index}].providers[{p_index}] ({kind}) key without name/secret"
                        )
                    keys.append(Key(str(key["name"]), str(key["secret"])))
                providers.append(ProviderEntry(str(kind), tuple(keys)))
            elif kind == "kms":
                providers.append(
                    ProviderEntry(
                        "kms",
                        kms_name=str(body.get("name", "")),
                        kms_endpoint=str(body.get("endpoint", "")),
                        kms_api_version=str(body.get("apiVersion", "v1")),
                    )
                )
            else:
                providers.append(ProviderEntry(str(kind)))
        rules.append((resources, tuple(providers)))
    if not rules:
        raise EncryptionError(f"{where} has no resources rule")
    return ParsedConfig(tuple(rules))


def summarize(config: ParsedConfig) -> ConfigSummary:
    """Names only: what verification and reports may show."""
    return ConfigSummary(
        tuple(
            (resources, tuple((p.type, p.key_names or ((p.kms_name,) if p.type == "kms" else ())) for p in providers))
            for resources, providers in config.rules
        )
    )


def summary_doc(path: str, text: str) -> dict[str, Any]:
    """The collector's view of an EncryptionConfiguration (host_doc.EncryptionConfigDoc: sha256, resources,
    provider types, key NAMES), made here from a planned file so the judge can check a plan the way it checks a
    host. tests/unit/test_collector.py keeps this and the on-host parser in step."""
    found: dict[str, Any] = {"path": path, "sha256": sha256_text(text)}
    try:
        parsed = parse_config(text)
    except EncryptionError as exc:
        found["error"] = str(exc)
        return found
    rules = []
    for resources, providers in parsed.rules:
        shown = []
        for entry in providers:
            if entry.type == "kms":
                shown.append({"type": "kms", "keys": [entry.kms_name], "api_version": entry.kms_api_version or "v1"})
            else:
                shown.append({"type": entry.type, "keys": list(entry.key_names)})
        rules.append({"resources": list(resources), "providers": shown})
    found["rules"] = rules
    return found


# ----------------------------------------------------------------------------------------------------
# Key lifecycle
# ----------------------------------------------------------------------------------------------------


def shared_config(found: Mapping[str, ReadBack | None]) -> ReadBack | None:
    """The file every control plane that has one agrees on, or None when none has one.

    Raises EncryptionError naming the hosts and short hashes when the files differ: apiservers with different
    files cannot read each other's writes, and picking one could lose the key another has used.
    """
    present = {host: read for host, read in found.items() if read is not None}
    if not present:
        return None
    hashes = {read.sha256 for read in present.values()}
    if len(hashes) > 1:
        listed = ", ".join(f"{host} sha256 {read.sha256[:12]}" for host, read in sorted(present.items()))
        raise EncryptionError(
            "the control planes have different EncryptionConfiguration files (" + listed + "); kubeharden cannot "
            "tell which keys encrypted the data, so it changed nothing: make the file identical on every control "
            "plane (copy the one whose keys the running apiservers use), then run again"
        )
    return next(iter(present.values()))


def is_readers(text: str, settings: Settings) -> bool:
    """Whether ``text`` is a readers file: identity first, a key of the profile's provider behind it."""
    parsed = parse_config(text)
    first = parsed.providers_for(settings.resources[0])
    return bool(first) and first[0].type == "identity" and bool(parsed.all_keys(settings.provider))


def readers_config(settings: Settings, final_text: str) -> str:
    """The first pass of a first enablement: the final file's providers behind identity, so every apiserver can read
    what the first to encrypt writes, and none encrypts yet."""
    parsed = parse_config(final_text)
    others = [e for e in parsed.providers_for(settings.resources[0]) if e.type != "identity"]
    return render_config(settings.resources, [ProviderEntry("identity"), *others])


def merged_secrets(configs: Iterable[ParsedConfig]) -> tuple[dict[tuple[str, str], str], str | None]:
    """Every (keyed provider, key name) -> secret across the files, and the first key name two files hold different
    secrets under (None: the files agree on every name)."""
    merged: dict[tuple[str, str], str] = {}
    conflict: str | None = None
    for config in configs:
        for provider in KEYED_PROVIDERS:
            for key in config.all_keys(provider):
                if merged.setdefault((provider, key.name), key.secret) != key.secret and conflict is None:
                    conflict = key.name
    return merged, conflict


def resume_config(found: Mapping[str, ReadBack | None], settings: Settings) -> ReadBack | None:
    """The file to continue from: the one every control plane that has a file agrees on, or, after an interrupted
    enablement (some control planes with the readers file, some with the final one, none with a secret another
    file names differently), the final one: every control plane that has either can read what it encrypts.

    Raises EncryptionError naming the hosts and short hashes when the files cannot be reconciled."""
    present = {host: read for host, read in found.items() if read is not None}
    if len({read.sha256 for read in present.values()}) <= 1:
        return shared_config(found)
    parsed = {host: parse_config(read.text, f"the EncryptionConfiguration of {host}") for host, read in present.items()}
    keys, conflict = merged_secrets(parsed.values())
    readers = {host for host in present if is_readers(present[host].text, settings)}
    finals = {present[h].sha256: h for h in present if h not in readers}
    if conflict is None and len(finals) == 1 and len({present[h].sha256 for h in readers}) <= 1:
        final = next(iter(finals.values()))
        if set(merged_secrets([parsed[final]])[0]) == set(keys):
            return present[final]
    return shared_config(found)


def desired_config(
    settings: Settings,
    existing: ReadBack | None,
    where: str = "the existing EncryptionConfiguration",
    make_key: Callable[[], Key] = new_key,
) -> tuple[str, bool]:
    """The file to write and whether a key was generated.

    No existing file: a new key (or the kms provider). An existing file: its keys are kept (the profile's provider
    first, with the key the file already encrypts with first), other keyed providers after it, identity last.
    """
    parsed = parse_config(existing.text, where) if existing is not None else None
    generated = False
    providers: list[ProviderEntry] = []
    if settings.provider == "kms":
        providers.append(ProviderEntry("kms", kms_name=settings.kms_name, kms_endpoint=settings.kms_endpoint))
    else:
        keys = parsed.all_keys(settings.provider) if parsed is not None else []
        if not keys:
            keys, generated = [make_key()], True
        providers.append(ProviderEntry(settings.provider, tuple(keys)))
    if parsed is not None:
        for other in KEYED_PROVIDERS:
            if other != settings.provider and parsed.all_keys(other):
                providers.append(ProviderEntry(other, tuple(parsed.all_keys(other))))
        if settings.provider != "kms":
            for _, rule_providers in parsed.rules:
                for entry in rule_providers:
                    if entry.type == "kms" and entry not in providers:
                        providers.append(entry)
    providers.append(ProviderEntry("identity"))
    return render_config(settings.resources, providers), generated


@dataclass(frozen=True)
class RotationStep:
    """One step of a key rotation: a file to roll out to every control plane (health-gated), or a rewrite."""

    name: str
    description: str
    config: str | None = field(default=None, repr=False)
    rewrite: bool = False


def rotation_steps(current: str, settings: Settings, make_key: Callable[[], Key] = new_key) -> list[RotationStep]:
    """The documented rotation for the file every control plane has now: add the new key second, roll out; move it
    first, roll out; rewrite every configured resource; remove the old keys, roll out."""
    if settings.provider not in KEYED_PROVIDERS:
        raise EncryptionError(
            f"kubeharden_encryption_provider is {settings.provider}: the KMS plugin holds and rotates the key, "
            "kubeharden has no key to rotate"
        )
    parsed = parse_config(current, "the current EncryptionConfiguration")
    first = parsed.providers_for(settings.resources[0])
    if not first or first[0].type != settings.provider or not first[0].keys:
        raise EncryptionError(
            f"the current EncryptionConfiguration does not encrypt {settings.resources[0]} with "
            f"{settings.provider} first: run `kubeharden harden` first, then rotate"
        )
    old = list(first[0].keys)
    key = make_key()
    while key.name in {k.name for k in old}:
        key = Key(key.name + "-1", key.secret)
    identity = ProviderEntry("identity")

    def config(keys: list[Key]) -> str:
        return render_config(settings.resources, [ProviderEntry(settings.provider, tuple(keys)), identity])

    old_names = ", ".join(k.name for k in old)
    return [
        RotationStep("add", f"new key {key.name} added second (reads only)", config([old[0], key, *old[1:]])),
        RotationStep("promote", f"new key {key.name} moved first (encrypts new writes)", config([key, *old])),
        RotationStep("rewrite", "every configured resource rewritten with the new key", rewrite=True),
        RotationStep("retire", f"old key(s) {old_names} removed", config([key])),
    ]
