"""Run inside a lab host joining the etcd cluster: point its kubeadm-written etcd manifest at the existing cluster.

The manifest kubeadm wrote in dry-run mode is edited and only then put into /etc/kubernetes/manifests, atomically:
an etcd started from kubeadm's single-member manifest would bootstrap a cluster of its own in the data directory
and never join (cluster ID mismatch).

Lab test infrastructure. This is the edit kubeadm's own join makes (--initial-cluster with every member,
--initial-cluster-state=existing); kubeadm cannot do it here because it finds members through mirror pods,
which only a kubelet creates. Structure edit of the parsed manifest, flags kept sorted as kubeadm writes them.
"""

import os
import sys

import yaml

PATH = "/etc/kubernetes/manifests/etcd.yaml"


def main(cluster, source):
    with open(source) as fh:
        pod = yaml.safe_load(fh)
    container = pod["spec"]["containers"][0]
    flags = dict(arg.split("=", 1) for arg in container["command"][1:])
    flags["--initial-cluster"] = cluster
    flags["--initial-cluster-state"] = "existing"
    container["command"] = container["command"][:1] + [f"{k}={v}" for k, v in sorted(flags.items())]
    tmp = "/etc/kubernetes/manifests/.etcd.yaml.tmp"  # hidden: the runner, like the kubelet, ignores dotfiles
    with open(tmp, "w") as fh:
        fh.write(yaml.safe_dump(pod, sort_keys=True))
    os.chmod(tmp, 0o600)
    os.replace(tmp, PATH)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
