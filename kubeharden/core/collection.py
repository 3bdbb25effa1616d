"""What the on-host collector is asked for, derived from the catalog: verify's spec and harden's.

Every path, glob and flag-named file a control's tests mention is collected; config files named by flags are read
only when they hold configuration, never credentials. Harden's spec adds the files its plans need compared (their
sha256) and the EncryptionConfiguration read back WITH its keys (so a key is reused, never regenerated); verify's
spec never reads that file. Pure logic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from kubeharden.core.catalog import APISERVER, COMPONENTS, CONTROLS, ETCD, Control
from kubeharden.core.catalog.kubelet_files import KUBELET_UNIT_GLOBS
from kubeharden.core.catalog.model import FileTest, UrlsTest
from kubeharden.core.host_doc import CollectSpec, FirewallSpec

MANIFEST_DIR = "/etc/kubernetes/manifests"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"
KUBELET_ENV_FILES = ("/var/lib/kubelet/kubeadm-flags.env", "/etc/default/kubelet", "/etc/sysconfig/kubelet")
MAX_BYTES = 262144

READ_FLAGS: tuple[tuple[str, str], ...] = (
    (APISERVER, "--authentication-config"),
    (APISERVER, "--admission-control-config-file"),
)
"""Files whose contents are judged; they hold configuration, never credentials."""
STAT_ONLY_FLAGS: tuple[tuple[str, str], ...] = (
    (APISERVER, "--encryption-provider-config"),
    (APISERVER, "--audit-policy-file"),
)
NEVER_READ_FLAGS: tuple[tuple[str, str], ...] = ((APISERVER, "--encryption-provider-config"),)
"""The EncryptionConfiguration holds the secrets-encryption keys: verify stats it, never reads it."""
ENCRYPTION_RESOURCES: tuple[str, ...] = ("secrets", "configmaps")
"""Resources whose raw etcd values are sampled (their ``k8s:enc:`` prefix only) for the live encryption proof."""
VERIFY_SAMPLE = 20


def etcd_env_name(flag: str) -> str:
    """etcd reads every flag from ETCD_<NAME> too (``--client-cert-auth`` -> ETCD_CLIENT_CERT_AUTH)."""
    return "ETCD_" + flag.lstrip("-").upper().replace("-", "_")


def firewall_spec() -> FirewallSpec:
    from kubeharden.core.firewall import NFTABLES_CONF, PERSIST_PATH, STATE_FILE, TABLE

    return {
        "table": TABLE,
        "persist": PERSIST_PATH,
        "conf": NFTABLES_CONF,
        "include": f'include "{PERSIST_PATH}"',
        "state_file": STATE_FILE,
    }


def _flag_names(control: Control) -> list[str]:
    names = [t.flag for t in control.flag_tests]
    for test in control.tests:
        if isinstance(test, UrlsTest):
            names.extend(test.flags)
        if isinstance(test, FileTest) and test.flag:
            names.append(test.flag[1])
    return names


def verify_spec(controls: Iterable[Control] = CONTROLS) -> CollectSpec:
    """What verify collects: every path, glob and flag-named file the catalog's tests mention."""
    chosen = list(controls)
    stat_paths: list[str] = []
    stat_globs: list[str] = []
    stat_flags: list[tuple[str, str]] = list(STAT_ONLY_FLAGS)
    etcd_env: set[str] = set()
    for control in chosen:
        for test in control.file_tests:
            if test.flag:
                stat_flags.append(test.flag)
            elif test.path:
                stat_paths.append(test.path)
            elif test.glob:
                stat_globs.append(test.glob)
        if control.component == ETCD:
            etcd_env.update(etcd_env_name(name) for name in _flag_names(control))
    spec: CollectSpec = {
        "components": list(COMPONENTS),
        "manifest_dir": MANIFEST_DIR,
        "kubelet_config": KUBELET_CONFIG,
        "kubelet_units": list(KUBELET_UNIT_GLOBS),
        "kubelet_env_files": list(KUBELET_ENV_FILES),
        "stat_paths": list(dict.fromkeys(stat_paths)),
        "stat_globs": list(dict.fromkeys(stat_globs)),
        "stat_flags": [list(item) for item in dict.fromkeys(stat_flags)],
        "read_flags": [list(item) for item in READ_FLAGS],
        "never_read_flags": [list(item) for item in NEVER_READ_FLAGS],
        "env": {ETCD: sorted(etcd_env)},
        "encryption": {"resources": list(ENCRYPTION_RESOURCES), "sample": VERIFY_SAMPLE},
        "max_bytes": MAX_BYTES,
    }
    if any(c.area == "firewall" for c in chosen):
        spec["firewall"] = firewall_spec()
    return spec


def _required_defaults() -> tuple[list[str], list[tuple[str, str]]]:
    """Paths a plan may require (must_exist tests): kubeadm's default locations, and the flags naming them."""
    from kubeharden.core.catalog.model import FlagTest

    paths: list[str] = []
    flags: list[tuple[str, str]] = []
    for control in CONTROLS:
        for test in control.tests:
            if isinstance(test, FlagTest) and test.must_exist and control.component:
                flags.append((control.component, test.flag))
                if isinstance(test.default, str):
                    paths.append(
                        test.default.replace("{etcd_pki}", KUBEADM_PKI + "/etcd").replace("{pki}", KUBEADM_PKI)
                    )
    return paths, flags


KUBEADM_PKI = "/etc/kubernetes/pki"
OWNED_FILE_KEYS: tuple[str, ...] = (
    "kubeharden_audit_policy_file",
    "kubeharden_admission_config_file",
    "kubeharden_authentication_config_file",
    "kubeharden_encryption_config_file",
)
"""Profile keys naming whole files kubeharden writes (their sha256 decides whether to write again)."""


def harden_spec(profile: Mapping[str, Any], control_plane: bool, first_control_plane: bool) -> CollectSpec:
    """What harden collects on one host: verify's view, plus the sha256 of the files it may write and the files
    its plans require; on control planes the EncryptionConfiguration read back WITH its keys (so they are reused,
    never regenerated) and every raw etcd value of the encrypted resources for its own proof; on the first control
    plane kubeadm's ClusterConfiguration."""
    spec = verify_spec()
    if not control_plane:
        return spec
    required, flags = _required_defaults()
    spec["stat_paths"] = list(dict.fromkeys([*spec.get("stat_paths", []), *required]))
    spec["stat_flags"] = [list(f) for f in dict.fromkeys([*map(tuple, spec.get("stat_flags", [])), *flags])]
    spec["hash_paths"] = sorted({str(profile[key]) for key in OWNED_FILE_KEYS})
    spec["secret_read"] = [str(profile["kubeharden_encryption_config_file"])]
    spec["encryption"] = {"resources": list(profile["kubeharden_encryption_resources"]), "sample": VERIFY_SAMPLE}
    spec["kubeadm_config"] = first_control_plane
    return spec
