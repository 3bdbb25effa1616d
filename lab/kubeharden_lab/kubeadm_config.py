"""kubeadm configuration documents for the lab's nodes. Pure logic: YAML text in, nothing run.

The lab makes its cluster with kubeadm's own phases from these documents, so the PKI, kubeconfigs, static pod
manifests and kubelet config are exactly what kubeadm writes on a real node.
"""

from __future__ import annotations

from typing import Any

import yaml

from kubeharden_lab.config import LabHost, LabSpec

KUBEADM_API = "kubeadm.k8s.io/v1beta4"
CRI_SOCKET = "unix:///var/run/containerd/containerd.sock"

# The kubeadm systemd drop-in and kubelet unit as the kubernetes/release packages install them.
KUBELET_SERVICE = """[Unit]
Description=kubelet: The Kubernetes Node Agent
Documentation=https://kubernetes.io/docs/
Wants=network-online.target
After=network-online.target

[Service]
ExecStart=/usr/bin/kubelet
Restart=always
StartLimitInterval=0
RestartSec=10

[Install]
WantedBy=multi-user.target
"""

KUBEADM_DROPIN = """# Note: This dropin only works with kubeadm and kubelet v1.11+
[Service]
Environment="KUBELET_KUBECONFIG_ARGS=--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf --kubeconfig=/etc/kubernetes/kubelet.conf"
Environment="KUBELET_CONFIG_ARGS=--config=/var/lib/kubelet/config.yaml"
# This is a file that "kubeadm init" and "kubeadm join" generates at runtime, populating the KUBELET_KUBEADM_ARGS variable dynamically
EnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env
# This is a file that the user can use for overrides of the kubelet args as a last resort. Preferably, the user should use
# the .NodeRegistration.KubeletExtraArgs object in the configuration files instead. KUBELET_EXTRA_ARGS should be sourced from this file.
EnvironmentFile=-/etc/default/kubelet
ExecStart=
ExecStart=/usr/bin/kubelet $KUBELET_KUBECONFIG_ARGS $KUBELET_CONFIG_ARGS $KUBELET_KUBEADM_ARGS $KUBELET_EXTRA_ARGS
"""  # noqa: E501


def node_registration(host: LabHost) -> dict[str, Any]:
    """The node's registration: its name, containerd, its lab address for the kubelet (kubeadm writes it to
    kubeadm-flags.env), no taints (the lab's control planes may run test pods)."""
    return {
        "name": host.name,
        "criSocket": CRI_SOCKET,
        "ignorePreflightErrors": ["all"],
        "taints": [],
        "kubeletExtraArgs": [{"name": "node-ip", "value": host.address}],
    }


def cluster_configuration(spec: LabSpec) -> dict[str, Any]:
    first = spec.control_planes[0]
    sans = sorted({h.name for h in spec.control_planes} | {h.address for h in spec.control_planes})
    return {
        "apiVersion": KUBEADM_API,
        "kind": "ClusterConfiguration",
        "kubernetesVersion": spec.k8s_version,
        "clusterName": f"lab-{spec.name}",
        "controlPlaneEndpoint": f"{first.address}:6443",
        "networking": {
            "serviceSubnet": "10.96.0.0/12",
            "podSubnet": "10.244.0.0/16",
            "dnsDomain": "cluster.local",
        },
        "apiServer": {"certSANs": sans},
    }


def init_configuration(spec: LabSpec, host: LabHost) -> str:
    """InitConfiguration + ClusterConfiguration for a control-plane node's `kubeadm init phase` calls."""
    init = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "localAPIEndpoint": {"advertiseAddress": host.address, "bindPort": 6443},
        "nodeRegistration": node_registration(host),
    }
    # The lab's kubelets would serve certificates signed by the cluster CA (serverTLSBootstrap), as a hardened
    # cluster's do; the lab inventory says so, and the apiserver then verifies them (CIS 1.2.5).
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "serverTLSBootstrap": True,
    }
    return yaml.safe_dump_all([init, cluster_configuration(spec), kubelet], sort_keys=False)


def kubeadm_flags_env(host: LabHost) -> str:
    """What kubeadm writes to /var/lib/kubelet/kubeadm-flags.env on a node."""
    return (
        f'KUBELET_KUBEADM_ARGS="--container-runtime-endpoint={CRI_SOCKET} '
        f'--node-ip={host.address} --pod-infra-container-image=registry.k8s.io/pause:3.10.1"\n'
    )


def etc_hosts(spec: LabSpec) -> str:
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    lines += [f"{h.address}\t{h.name}" for h in spec.hosts]
    return "\n".join(lines) + "\n"
