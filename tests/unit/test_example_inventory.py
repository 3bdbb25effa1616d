"""The shipped example inventory stays a valid pyinfra inventory with strict host-key checking."""

from __future__ import annotations

import runpy
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "inventories" / "example.py"


def test_example_inventory_has_both_groups_and_strict_host_keys() -> None:
    module = runpy.run_path(str(EXAMPLE))
    assert module["control_plane"] and module["workers"]
    for _name, data in module["control_plane"] + module["workers"]:
        assert data["ssh_strict_host_key_checking"] == "yes"
        assert data["node_ip"] == data["ssh_hostname"]
