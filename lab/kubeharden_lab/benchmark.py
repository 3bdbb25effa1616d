"""Measure kubeharden on a lab: verify and no-change harden wall times (medians), remote commands per host.

    python -m kubeharden_lab.benchmark [--runs 5] [--control-planes 2] [--workers 1]

Makes its own lab (name "bench"), always removes it, and prints a Markdown table for docs/benchmarks.md.
Times are medians over several runs because the machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KH = [sys.executable, "-m", "kubeharden"]


def _timed(args: list[str], ok: tuple[int, ...] = (0,)) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    proc = subprocess.run([*KH, *args], capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - started
    if proc.returncode not in ok:
        raise SystemExit(f"kubeharden {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return elapsed, proc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--control-planes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="kh-bench-") as tmp:
        lab_dir = Path(tmp) / ".lab"
        inventory = str(lab_dir / "inventory.py")
        up = ["lab", "up", "--dir", str(lab_dir), "--name", "bench", "--weak"]
        up += ["--control-planes", str(args.control_planes), "--workers", str(args.workers)]
        try:
            lab_up, _ = _timed(up)
            weak = [_timed(["verify", inventory, "--json", f"{tmp}/v.json"], ok=(1,))[0] for _ in range(args.runs)]
            hosts_summary = json.loads(Path(f"{tmp}/v.json").read_text())["summary"]["hosts"]
            commands = {h["name"]: h["remote_commands"] for h in hosts_summary}
            first, _ = _timed(["harden", inventory, "--summary-json", f"{tmp}/h.json"])
            again = []
            for _ in range(args.runs):
                elapsed, _ = _timed(["harden", inventory, "--summary-json", f"{tmp}/h2.json"])
                if json.loads(Path(f"{tmp}/h2.json").read_text())["changed"]:
                    raise SystemExit("a repeated harden changed something: not a no-change run")
                again.append(elapsed)
            hardened = [_timed(["verify", inventory])[0] for _ in range(args.runs)]
        finally:
            subprocess.run([*KH, "lab", "down", "--dir", str(lab_dir)], check=False, capture_output=True)
    hosts = args.control_planes + args.workers
    print(
        f"Lab: {args.control_planes} control planes + {args.workers} workers ({hosts} hosts), {args.runs} runs each.\n"
    )
    print("| measurement | median | min | max |")
    print("|---|---|---|---|")
    for label, values in (
        ("`verify` on the weak lab (exit 1)", weak),
        ("`verify` on the hardened lab (exit 0)", hardened),
        ("`harden` with nothing to change", again),
    ):
        print(f"| {label} | {statistics.median(values):.2f} s | {min(values):.2f} s | {max(values):.2f} s |")
    print(f"| first `harden` of the weak lab (one run) | {first:.1f} s | | |")
    print(f"| `lab up --weak` (one run, cached binaries) | {lab_up:.1f} s | | |")
    print(f"\nRemote commands per host issued by `verify` for collection: {commands}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
