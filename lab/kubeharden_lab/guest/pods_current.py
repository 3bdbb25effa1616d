"""Run inside a lab host: exit 0 when the static-pod runner runs every manifest's CURRENT content, ready.

Lab test infrastructure. A component that still answers from its old process does not count: the runner's
status must carry the sha256 of the manifest as it is now.
"""

import glob
import hashlib
import json
import os
import sys


def main():
    ok, notes = True, []
    for path in sorted(glob.glob("/etc/kubernetes/manifests/*")):
        name = os.path.basename(path)
        if name.startswith(".") or not os.path.isfile(path):
            continue
        with open(path, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        try:
            with open(f"/run/kubeharden-lab/pods/{name}.json") as fh:
                status = json.load(fh)
        except (OSError, ValueError):
            ok = False
            notes.append(f"{name}: no status yet")
            continue
        if status.get("manifest_sha256") != digest or status.get("state") != "running" or not status.get("ready"):
            ok = False
            error = status.get("last_error") or ""
            notes.append(f"{name}: {status.get('state')} ready={status.get('ready')} {error}")
    print("; ".join(notes))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
