"""Controls whose proof spans the cluster: secrets encryption at rest (CIS 1.2.27/1.2.28 and KH-ENC-*) and the
per-role firewall on every host (KH-FW-*)."""

from __future__ import annotations

from kubeharden.core.catalog.model import (
    APISERVER,
    ROLES,
    Control,
    EncryptionTest,
    FileTest,
    FirewallTest,
    FlagTest,
    LiveTest,
    Op,
    Param,
)

ENCRYPTION_CONTROLS: tuple[Control, ...] = (
    Control(
        "1.2.27",
        "--encryption-provider-config is set",
        "encryption",
        APISERVER,
        (FlagTest("--encryption-provider-config", Op.SET, default=Param("kubeharden_encryption_config_file")),),
        applied_by="planner",
        expected="set to kubeharden's EncryptionConfiguration",
        remediation="kubeharden harden (writes the file with a key generated once, mounts it, sets the flag)",
    ),
    Control(
        "1.2.28",
        "Encryption providers are appropriately configured (the whole file: the first provider encrypts)",
        "encryption",
        APISERVER,
        (EncryptionTest("provider"),),
        applied_by="planner",
        reads=(
            "kubeharden_encryption_provider",
            "kubeharden_encryption_resources",
            "kubeharden_encryption_kms_name",
            "kubeharden_encryption_kms_endpoint",
        ),
        expected="first provider secretbox or kms for every configured resource (aescbc/aesgcm: WARN), never identity",
        remediation="set kubeharden_encryption_provider to secretbox or kms and run kubeharden harden",
    ),
    Control(
        "KH-ENC-FILE",
        "The EncryptionConfiguration is mode 600 or stricter and owned by root:root",
        "encryption",
        APISERVER,
        (FileTest(0o600, flag=(APISERVER, "--encryption-provider-config")),),
        remediation="chmod 600 and chown root:root the file --encryption-provider-config names",
        layer="infrastructure",
    ),
    Control(
        "KH-ENC-SAME",
        "The EncryptionConfiguration is identical on every control plane (compared by sha256)",
        "encryption",
        APISERVER,
        (EncryptionTest("identical"),),
        applied_by="none",
        expected="the same sha256 on every control plane",
        remediation="make the file identical everywhere (copy the one the running apiservers use), then "
        "kubeharden harden",
    ),
    Control(
        "KH-ENC-live",
        "Secrets are stored encrypted in etcd (raw value starts with k8s:enc:<provider>:v1:<key>:)",
        "encryption",
        APISERVER,
        (EncryptionTest("etcd"),),
        applied_by="none",
        expected="every sampled raw value starts with k8s:enc:<first provider>:v1:<first key name>:",
        remediation="kubeharden harden (rewrites existing Secrets after enabling encryption); "
        "kubectl get secrets -A -o json | kubectl replace -f -",
        tags=("live",),
    ),
    Control(
        "KH-ENC-VOLUME",
        "The etcd data directory lives on an encrypted block device (dm-crypt/LUKS); reported, never changed",
        "encryption",
        APISERVER,
        (EncryptionTest("volume"),),
        applied_by="none",
        expected="etcd's --data-dir on a dm-crypt device",
        remediation="move /var/lib/etcd to a LUKS volume (cryptsetup luksFormat; kubeharden never changes disks)",
        layer="infrastructure",
        scored=False,
    ),
)

FIREWALL_CONTROLS: tuple[Control, ...] = (
    Control(
        "KH-FW-TABLE",
        "The kubeharden nftables table is loaded and its input chain drops what it does not allow",
        "firewall",
        None,
        (FirewallTest("loaded"),),
        applied_by="firewall",
        reads=(
            "kubeharden_firewall_admin_cidrs",
            "kubeharden_firewall_load_balancers",
            "kubeharden_firewall_cni",
            "kubeharden_firewall_nodeport_roles",
            "kubeharden_firewall_nodeport_range",
            "kubeharden_firewall_icmp",
            "kubeharden_firewall_custom_rules",
            "kubeharden_firewall_ssh_port",
            "kubeharden_firewall_confirm_timeout",
        ),
        expected="table inet kubeharden loaded, input hook policy drop, with rules",
        remediation="kubeharden harden --only firewall (nft -j list table inet kubeharden shows what is loaded)",
        layer="infrastructure",
        roles=ROLES,
    ),
    Control(
        "KH-FW-PERSIST",
        "The firewall is persistent: its file is included from /etc/nftables.conf and nftables.service is enabled",
        "firewall",
        None,
        (FirewallTest("persistent"),),
        applied_by="firewall",
        expected="/etc/nftables.d/kubeharden.nft mode 600 root:root, included from /etc/nftables.conf; "
        "nftables.service enabled",
        remediation="kubeharden harden --only firewall (persists only after the new ruleset was confirmed)",
        layer="infrastructure",
        roles=ROLES,
    ),
    Control(
        "KH-FW-live",
        "Ports the operator's address must not reach give no connection from this machine",
        "firewall",
        None,
        (LiveTest("firewall_filters"),),
        applied_by="none",
        expected="no TCP connection to the kubelet 10250 (and etcd peer 2380 on control planes) from here",
        remediation="load the firewall (kubeharden harden --only firewall); only control-plane nodes may reach "
        "these ports",
        layer="infrastructure",
        roles=ROLES,
        tags=("live",),
    ),
)
