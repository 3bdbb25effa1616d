"""Read a pyinfra inventory file the way pyinfra does, without importing pyinfra_cli (it monkey-patches gevent).

Module-level lists are groups of hosts (`"name"` or `("name", {data})`); group data comes from
`group_data/<group>.py` beside the inventory (and `all.py` for every host). Host data beats group data, which
beats `all`, as in pyinfra. Used to validate the whole inventory before any host is contacted, and by the
verification suites to know whom to check and how to reach them.
"""

from __future__ import annotations

import runpy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubeharden.core.inventory import InventoryHost


class InventoryError(ValueError):
    """The inventory file cannot be read as a pyinfra inventory; the message says where and why."""


def _public_data(module: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in module.items() if not k.startswith("_") and not callable(v) and k.islower()}


def _load_group_data(directory: Path) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return data
    for path in sorted(directory.glob("*.py")):
        try:
            module = runpy.run_path(str(path))
        except Exception as exc:
            raise InventoryError(f"{path}: cannot be read as group data: {exc}") from exc
        data[path.stem] = {k: v for k, v in _public_data(module).items() if not hasattr(v, "__file__")}
    return data


def load_inventory(path: str | Path) -> dict[str, InventoryHost]:
    """Hosts of a pyinfra inventory file with their groups and merged data (all < group < host)."""
    path = Path(path)
    if not path.is_file():
        raise InventoryError(f"inventory {path} does not exist (expected a pyinfra inventory .py file)")
    try:
        module = runpy.run_path(str(path))
    except Exception as exc:
        raise InventoryError(f"inventory {path} cannot be read: {type(exc).__name__}: {exc}") from exc
    hosts: dict[str, InventoryHost] = {}
    host_data: dict[str, dict[str, Any]] = {}
    for group, members in module.items():
        if group.startswith("_") or not isinstance(members, list | tuple):
            continue
        for entry in members:
            if isinstance(entry, str):
                name, data = entry, {}
            elif isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[0], str):
                name, data = entry[0], entry[1]
                if not isinstance(data, dict):
                    raise InventoryError(f"inventory {path}: data of host {name!r} in group {group!r} is not a mapping")
            else:
                raise InventoryError(
                    f"inventory {path}: group {group!r} has an entry {entry!r}; expected 'name' or ('name', {{data}})"
                )
            host = hosts.setdefault(name, InventoryHost(name))
            if group in host.groups:
                raise InventoryError(f"inventory {path}: host {name!r} is listed twice in group {group!r}")
            if data and host_data.get(name):
                raise InventoryError(
                    f"inventory {path}: host {name!r} has data in two groups ({host.groups[0]!r} and {group!r}); "
                    "give its data once (pyinfra would merge them silently), list it by name elsewhere"
                )
            host.groups.append(group)
            host_data.setdefault(name, {}).update(data)
    if not hosts:
        raise InventoryError(f"inventory {path} defines no hosts (no module-level list of hosts)")
    group_data = _load_group_data(path.parent / "group_data")
    groups = {g for h in hosts.values() for g in h.groups}
    stray = sorted(set(group_data) - groups - {"all"})
    if stray:
        raise InventoryError(
            f"inventory {path}: group_data/{stray[0]}.py names no group of the inventory, so pyinfra would ignore "
            f"it silently (groups: {', '.join(sorted(groups))}; all.py is for every host)"
        )
    for name, host in hosts.items():
        merged = dict(group_data.get("all", {}))
        for group in host.groups:
            merged.update(group_data.get(group, {}))
        merged.update(host_data[name])
        host.data = merged
    return hosts
