"""Run inside a lab host with a real kubelet: exit 0 when every static pod's container runs the CURRENT command of
its manifest (a component that still answers from its old container does not count).

Lab test infrastructure: reads the manifests and /proc, as kubeharden's own collector does.
"""

import glob
import os
import sys

import yaml


def running_commands():
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                argv = [a.decode(errors="replace") for a in fh.read().split(b"\0") if a]
        except OSError:
            continue
        if argv:
            found.append(argv)
    return found


def main():
    running = running_commands()
    ok, notes = True, []
    for path in sorted(glob.glob("/etc/kubernetes/manifests/*.yaml")):
        with open(path) as fh:
            pod = yaml.safe_load(fh)
        container = pod["spec"]["containers"][0]
        wanted = list(container.get("command") or []) + list(container.get("args") or [])
        if wanted not in running:
            ok = False
            notes.append(f"{os.path.basename(path)}: its current command is not running yet")
    print("; ".join(notes))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
