"""The stored flag table of the lab's Kubernetes version matches what its real binaries print in --help.

The binaries are the lab's (built by `make lab-assets`); a mismatch means kubeharden/core/flag_tables.json must be
regenerated: `python -m kubeharden_lab.flag_tables <version>`.
"""

from __future__ import annotations

import json

from kubeharden_lab.binaries import DEFAULT_K8S_VERSION
from kubeharden_lab.flag_tables import TABLE, minor, tables_for


def test_the_stored_table_matches_the_binaries_help() -> None:
    stored = json.loads(TABLE.read_text())
    kube, etcd = tables_for(DEFAULT_K8S_VERSION)
    assert stored["kubernetes"][minor(DEFAULT_K8S_VERSION)] == kube
    assert stored["etcd"][minor(etcd["source"])] == etcd
