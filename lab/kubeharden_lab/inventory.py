"""The pyinfra inventory a lab writes: groups control_plane and workers, strict host-key checking. Pure logic."""

from __future__ import annotations

import pprint
from pathlib import Path
from typing import Any

from kubeharden_lab.config import LabSpec


def host_data(spec: LabSpec, lab_dir: Path, address: str) -> dict[str, Any]:
    return {
        "ssh_hostname": address,
        "ssh_user": "root",
        "ssh_key": str((lab_dir / "id_ed25519").resolve()),
        "ssh_known_hosts_file": str((lab_dir / "known_hosts").resolve()),
        "ssh_strict_host_key_checking": "yes",
        "ssh_config_file": str((lab_dir / "ssh_config").resolve()),
        "node_ip": address,
        # The lab's kubelet config sets serverTLSBootstrap: serving certificates signed by the cluster CA.
        "kubeharden_kubelet_serving_certs_signed": True,
        # The only admin CIDR is the bridge's address, where the tool runs: the production shape of the firewall.
        "kubeharden_firewall_admin_cidrs": [f"{spec.gateway}/32"],
    }


def render_inventory(spec: LabSpec, lab_dir: Path) -> str:
    """Python source of a pyinfra inventory for the lab (module-level lists are pyinfra groups)."""

    def group(hosts: Any) -> str:
        items = [(h.name, host_data(spec, lab_dir, h.address)) for h in hosts]
        return pprint.pformat(items, width=110, sort_dicts=True)

    return (
        f'"""pyinfra inventory of the kubeharden lab {spec.name!r} ({spec.subnet}), written by `kubeharden lab up`.\n\n'
        "Hosts are reached over SSH with the lab's own key and strict host-key checking against the lab's\n"
        "known_hosts, as production hosts are. The admin address (where the tool runs) is the bridge's.\n"
        '"""\n\n'
        f"LAB_NAME = {spec.name!r}\n"
        f"LAB_ADMIN_ADDRESS = {spec.gateway!r}\n"
        f"LAB_K8S_VERSION = {spec.k8s_version!r}\n\n"
        f"control_plane = {group(spec.control_planes)}\n\n"
        f"workers = {group(spec.workers)}\n"
    )
