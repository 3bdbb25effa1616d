"""Generate kubeharden's flag tables (kubeharden/core/flag_tables.json) from the real binaries' ``--help``.

    python -m kubeharden_lab.flag_tables v1.34.4 [v1.33.x ...]

For each Kubernetes version the lab builds (kubeharden_lab.binaries, cached), every flag kube-apiserver,
kube-controller-manager and kube-scheduler print in ``--help``, and etcd's flags for the etcd version that kubeadm
of that release deploys, are written under the minor version ("1.34", etcd "3.6"), merged into the existing file.
The product reads the file (kubeharden.core.flag_tables); tests/lab/test_flag_tables_lab.py checks that the table of
the lab's version still matches its binaries.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from kubeharden_lab.binaries import BuildError, build_etcd, build_kubernetes, cache_root, validate_k8s_version

TABLE = Path(__file__).resolve().parents[2] / "kubeharden" / "core" / "flag_tables.json"
KUBE = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
_FLAG = re.compile(r"^\s*(?:-\w,\s+)?--([A-Za-z0-9][\w.-]*)")


def parse_help(text: str) -> list[str]:
    """The ``--flag`` names of a pflag (``      --name type  ...``, ``  -v, --v Level``) or etcd (``  --name 'x'``)
    help text, sorted."""
    return sorted({"--" + m.group(1) for line in text.splitlines() if (m := _FLAG.match(line))})


def help_flags(binary: Path) -> list[str]:
    proc = subprocess.run([str(binary), "--help"], capture_output=True, text=True, timeout=60, check=False)
    flags = parse_help(proc.stdout + proc.stderr)
    if len(flags) < 20:
        raise RuntimeError(f"{binary} --help printed {len(flags)} flags (exit {proc.returncode}); not a flag list")
    return flags


def minor(version: str) -> str:
    return ".".join(version.lstrip("v").split(".")[:2])


ETCD_PATCH_FALLBACK = 6
"""Patch releases tried below the one kubeadm deploys when the module proxy cannot serve it (a flag table is per
minor version: patches add no flags)."""


def _etcd_dir(etcd_version: str) -> tuple[Path, str]:
    major_minor, _, patch = etcd_version.rpartition(".")
    errors = []
    for number in range(int(patch), max(int(patch) - ETCD_PATCH_FALLBACK, -1), -1):
        candidate = f"{major_minor}.{number}"
        try:
            return build_etcd(candidate, cache_root()), candidate
        except BuildError as exc:
            errors.append(f"{candidate}: {str(exc).strip().splitlines()[-1][:300]}")
            print(f"[flag tables] etcd {candidate} cannot be built here; trying the patch below", flush=True)
    raise BuildError("no etcd patch release of this minor could be built: " + "; ".join(errors))


def tables_for(k8s_version: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(kubernetes entry, etcd entry) for one version, from its built binaries (cached by the lab)."""
    version = validate_k8s_version(k8s_version)
    k8s_dir = cache_root() / "bin" / f"kubernetes-{version}"
    marker = k8s_dir / ".complete"
    if marker.exists():  # built by the lab: its etcd version is recorded beside it
        etcd_version = marker.read_text().strip()
    else:
        k8s_dir, etcd_version = build_kubernetes(version, cache_root())
    etcd_dir, used = _etcd_dir(etcd_version)
    kube = {"source": version, "flags": {c: help_flags(k8s_dir / c) for c in KUBE}}
    etcd = {"source": used, "flags": {"etcd": help_flags(etcd_dir / "etcd")}}
    return kube, etcd


def _patch(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("-")[0].split("."))


def _keep_newest(family: dict[str, Any], key: str, entry: dict[str, Any]) -> None:
    """A minor's table comes from its newest patch seen (etcd 3.5 patches backport flags: 3.5.21 has one 3.5.15
    lacks), so generating an older release's tables never drops a flag the newer patch has."""
    found = family.get(key)
    if found is None or _patch(str(found.get("source", "0"))) <= _patch(entry["source"]):
        family[key] = entry


def merge(document: dict[str, Any], k8s_version: str, kube: dict[str, Any], etcd: dict[str, Any]) -> dict[str, Any]:
    _keep_newest(document.setdefault("kubernetes", {}), minor(k8s_version), kube)
    _keep_newest(document.setdefault("etcd", {}), minor(etcd["source"]), etcd)
    document["kubernetes"] = dict(sorted(document["kubernetes"].items()))
    document["etcd"] = dict(sorted(document["etcd"].items()))
    return document


def main(argv: list[str] | None = None) -> int:
    versions = (sys.argv[1:] if argv is None else argv) or ["v1.34.4"]
    document = json.loads(TABLE.read_text()) if TABLE.exists() else {}
    document["about"] = "Flags each component's --help prints, per minor version; made by kubeharden_lab.flag_tables"
    for version in versions:
        kube, etcd = tables_for(version)
        merge(document, version, kube, etcd)
        counts = {c: len(f) for c, f in kube["flags"].items()} | {"etcd": len(etcd["flags"]["etcd"])}
        print(f"[flag tables] {version} (etcd {etcd['source']}): {counts}", flush=True)
    tmp = TABLE.with_suffix(".tmp")
    tmp.write_text(json.dumps(document, indent=1, sort_keys=False) + "\n")
    tmp.replace(TABLE)
    print(f"[flag tables] wrote {TABLE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
