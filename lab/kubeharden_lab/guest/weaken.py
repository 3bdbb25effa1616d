"""Run inside a lab host by `kubeharden lab up --weak`: make a working but deliberately weak node.

Test infrastructure, not a product feature: it gives the hardening real weaknesses to find and fix, the kind
seen on clusters in the wild (explicit anonymous auth and profiling, kubelet read-only port and AlwaysAllow,
loose file modes). Structure edits only (parsed YAML); stdlib + PyYAML, as the host's python3 has them.
"""

import os
import sys

import yaml

MANIFESTS = "/etc/kubernetes/manifests"
KUBELET_CONFIG = "/var/lib/kubelet/config.yaml"

WEAK_FLAGS = {
    "kube-apiserver": {"--anonymous-auth": "true", "--profiling": "true"},
    "kube-controller-manager": {"--profiling": "true"},
    "kube-scheduler": {"--profiling": "true"},
}


def set_flags(command, flags):
    """Set --name=value flags in a container command, keeping the binary first and flags sorted like kubeadm."""
    binary, rest = command[0], command[1:]
    current = {}
    for arg in rest:
        name, _, value = arg.partition("=")
        current[name] = value
    current.update(flags)
    return [binary] + [f"{k}={v}" for k, v in sorted(current.items())]


def write_atomic(path, text, mode):
    tmp = path + ".weak-tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def weaken_manifest(component):
    path = os.path.join(MANIFESTS, component + ".yaml")
    if not os.path.exists(path):
        return
    with open(path) as fh:
        pod = yaml.safe_load(fh)
    container = pod["spec"]["containers"][0]
    container["command"] = set_flags(container["command"], WEAK_FLAGS[component])
    write_atomic(path, yaml.safe_dump(pod, sort_keys=True, default_flow_style=False), 0o644)


def weaken_kubelet():
    if not os.path.exists(KUBELET_CONFIG):
        return
    with open(KUBELET_CONFIG) as fh:
        cfg = yaml.safe_load(fh)
    cfg.setdefault("authentication", {}).setdefault("anonymous", {})["enabled"] = True
    cfg.setdefault("authorization", {})["mode"] = "AlwaysAllow"
    cfg["readOnlyPort"] = 10255
    write_atomic(KUBELET_CONFIG, yaml.safe_dump(cfg, sort_keys=True, default_flow_style=False), 0o644)


def loosen_modes():
    for path in (
        "/etc/kubernetes/admin.conf",
        "/etc/kubernetes/kubelet.conf",
        "/etc/kubernetes/super-admin.conf",
    ):
        if os.path.exists(path):
            os.chmod(path, 0o644)
    for root, _dirs, files in os.walk("/etc/kubernetes/pki"):
        for name in files:
            os.chmod(os.path.join(root, name), 0o644)
    if os.path.isdir("/var/lib/etcd"):
        os.chmod("/var/lib/etcd", 0o755)  # noqa: S103 -- the lab's weakened state on purpose


def main(role):
    if role == "control_plane":
        for component in WEAK_FLAGS:
            weaken_manifest(component)
    weaken_kubelet()
    loosen_modes()


if __name__ == "__main__":
    main(sys.argv[1])
