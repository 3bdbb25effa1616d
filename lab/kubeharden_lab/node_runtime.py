"""The files a lab host running a real kubelet has before its first boot: containerd's configuration, a bridge CNI,
the node-prep unit. Pure logic: text out, nothing written. The reasons are measured in docs/kubelet-in-lab.md.
"""

from __future__ import annotations

import json

from kubeharden_lab.config import LabHost, LabSpec

POD_SUPERNET = "10.244"
"""kubeadm's podSubnet in the lab (10.244.0.0/16); each host's pods get 10.244.<n>.0/24 from host-local."""

CONTAINERD_CONFIG = """version = 2

# kubeharden lab (docs/kubelet-in-lab.md): the host's root is an overlayfs (native snapshotter), root has no
# CAP_SYS_RESOURCE (oom_score_adj restricted), images are imported locally (sandbox image tagged as kubeadm names it).
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox}"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "native"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = true
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
"""


def containerd_config(sandbox_image: str) -> str:
    return CONTAINERD_CONFIG.replace("{sandbox}", sandbox_image)


def pod_subnet(spec: LabSpec, host: LabHost) -> str:
    return f"{POD_SUPERNET}.{spec.hosts.index(host) + 1}.0/24"


def cni_conflist(spec: LabSpec, host: LabHost) -> str:
    """A bridge with host-local addresses (no masquerade, no port maps: neither needs iptables rules here)."""
    conflist = {
        "cniVersion": "1.0.0",
        "name": "kubeharden-lab",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "cni0",
                "isGateway": True,
                "ipMasq": False,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": pod_subnet(spec, host)}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            }
        ],
    }
    return json.dumps(conflist, indent=2) + "\n"
