"""Make the lab's Kubernetes cluster with kubeadm's own phases, over SSH, as on a real node.

First control plane: `kubeadm init phase` certs, kubeconfig, etcd, control-plane, kubelet-start, then the uploaded
kubeadm-config once the API answers. Further control planes: the shared CAs copied over (what
`--upload-certs` would do), kubeadm's phases for the node's own files, a learner etcd member promoted when synced.
Workers: the kubelet files kubeadm's join writes (config.yaml from the kubelet-config ConfigMap, flags env,
kubelet.conf). No kubelet runs in the lab; the static-pod runner plays its static-pod role.
"""

from __future__ import annotations

import json
import shlex
import sys
import time
from collections.abc import Callable

from kubeharden_lab.access import AccessError, LabShell
from kubeharden_lab.config import LabHost, LabSpec
from kubeharden_lab.kubeadm_config import init_configuration, kubeadm_flags_env

ADMIN = "/etc/kubernetes/admin.conf"
GUEST_LIB = "/usr/local/lib/kubeharden-lab"  # where lab up installs kubeharden_lab/guest/*.py
KUBEADM_CFG = "/root/kubeadm-lab.yaml"
SHARED_PKI = (
    "ca.crt",
    "ca.key",
    "sa.key",
    "sa.pub",
    "front-proxy-ca.crt",
    "front-proxy-ca.key",
    "etcd/ca.crt",
    "etcd/ca.key",
)
ETCDCTL = (
    "etcdctl --endpoints=https://127.0.0.1:2379 --cacert=/etc/kubernetes/pki/etcd/ca.crt "
    "--cert=/etc/kubernetes/pki/etcd/healthcheck-client.crt --key=/etc/kubernetes/pki/etcd/healthcheck-client.key"
)


def progress(message: str) -> None:
    print(f"[lab] {message}", file=sys.stderr, flush=True)


def wait_until(what: str, probe: Callable[[], tuple[bool, str]], timeout: float, interval: float = 1.0) -> None:
    """Poll `probe` until it reports success; on timeout raise with the last thing it said."""
    deadline = time.monotonic() + timeout
    detail = ""
    while True:
        ok, detail = probe()
        if ok:
            return
        if time.monotonic() > deadline:
            raise AccessError(f"{what}: not ready after {timeout:.0f}s: {detail.strip()[-1500:]}")
        time.sleep(interval)


def _probe(shell: LabShell, host: str, command: str) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        try:
            res = shell.run(host, command, check=False, timeout=30)
        except Exception as exc:  # a timeout while the component starts is just "not yet"
            return False, str(exc)
        return res.returncode == 0, res.stdout + res.stderr

    return probe


def wait_apiserver(shell: LabShell, host: str, timeout: float = 240.0) -> None:
    wait_until(
        f"{host}: kube-apiserver /readyz",
        _probe(shell, host, f"kubectl --kubeconfig {ADMIN} get --raw /readyz --request-timeout=10s"),
        timeout,
        2.0,
    )


def wait_etcd(shell: LabShell, host: str, timeout: float = 180.0) -> None:
    wait_until(f"{host}: etcd endpoint health", _probe(shell, host, f"{ETCDCTL} endpoint health"), timeout, 2.0)


def wait_pods_current(shell: LabShell, host: str, timeout: float = 240.0) -> None:
    """Wait until the runner runs every manifest's CURRENT content and each pod is ready (not an old process)."""
    wait_until(
        f"{host}: static pods running their current manifests",
        lambda: _current(shell, host),
        timeout,
        2.0,
    )


def _current(shell: LabShell, host: str) -> tuple[bool, str]:
    try:
        res = shell.run(host, f"python3 {GUEST_LIB}/pods_current.py", check=False, timeout=30)
    except Exception as exc:
        return False, str(exc)
    return res.returncode == 0, res.stdout + res.stderr


def _kubeadm(shell: LabShell, host: str, phase: str, config: str = KUBEADM_CFG) -> None:
    progress(f"{host}: kubeadm {phase}")
    shell.run(host, f"kubeadm {phase} --config {config} --v=1", timeout=600)


def init_first_control_plane(shell: LabShell, spec: LabSpec, host: LabHost) -> None:
    shell.write(host.name, KUBEADM_CFG, init_configuration(spec, host), mode="0600")
    for phase in ("certs all", "kubeconfig all", "etcd local", "control-plane all"):
        _kubeadm(shell, host.name, f"init phase {phase}")
    # Writes /var/lib/kubelet/config.yaml and kubeadm-flags.env; it cannot start a kubelet here (none runs).
    _kubeadm(shell, host.name, "init phase kubelet-start")
    progress(f"{host.name}: waiting for etcd and kube-apiserver (run by the lab's static-pod runner)")
    wait_etcd(shell, host.name)
    wait_apiserver(shell, host.name)
    for phase in ("upload-config kubeadm", "upload-config kubelet", "bootstrap-token"):
        _kubeadm(shell, host.name, f"init phase {phase}")


def join_control_plane(shell: LabShell, spec: LabSpec, first: LabHost, host: LabHost) -> None:
    """A further stacked control plane, the way `kubeadm join --control-plane` makes one.

    The shared CAs are copied from the first control plane (what --upload-certs does); kubeadm's phases write
    this node's certificates, kubeconfigs and manifests. The etcd member is added as a learner, its manifest
    gets the existing cluster (kubeadm's own join does the same, but finds the members through the etcd mirror
    pods that only a kubelet creates), and it is promoted once it has caught up.
    """
    progress(f"{host.name}: copying the cluster CAs from {first.name} (what --upload-certs does)")
    for rel in SHARED_PKI:
        content = shell.run(first.name, f"cat /etc/kubernetes/pki/{rel}").stdout
        mode = "0600" if rel.endswith(".key") else "0644"
        shell.write(host.name, f"/etc/kubernetes/pki/{rel}", content, mode=mode)
    shell.write(host.name, KUBEADM_CFG, init_configuration(spec, host), mode="0600")
    for phase in ("certs all", "kubeconfig all"):
        _kubeadm(shell, host.name, f"init phase {phase}")
    joined = spec.control_planes[: spec.control_planes.index(host) + 1]
    cluster = ",".join(f"{h.name}=https://{h.address}:2380" for h in joined)
    progress(f"{host.name}: etcd member add (learner) on {first.name}")
    out = shell.run(
        first.name, f"{ETCDCTL} member add {host.name} --learner --peer-urls=https://{host.address}:2380 -w json"
    ).stdout
    member_id = format(json.loads(out)["member"]["ID"], "x")
    # kubeadm writes the manifest into a dry-run directory; it reaches the manifests directory only once it names
    # the existing cluster (an etcd started from the single-member manifest would bootstrap a cluster of its own).
    dry = "/root/kubeadm-etcd-join"
    progress(f"{host.name}: kubeadm init phase etcd local (dry run, then joined to the existing cluster)")
    shell.run(
        host.name, f"KUBEADM_INIT_DRYRUN_DIR={dry} kubeadm init phase etcd local --config {KUBEADM_CFG} --dry-run"
    )
    shell.run(host.name, "mkdir -p -m 700 /var/lib/etcd")  # what the non-dry-run phase would have made
    shell.run(host.name, f"python3 {GUEST_LIB}/etcd_join.py {shlex.quote(cluster)} {dry}/etcd.yaml && rm -rf {dry}")
    wait_until(
        f"{host.name}: etcd learner promoted",
        _probe(shell, first.name, f"{ETCDCTL} member promote {member_id}"),
        180,
        2.0,
    )
    _kubeadm(shell, host.name, "init phase control-plane all")
    write_kubelet_files(shell, spec, first, host, with_ca=False)
    wait_etcd(shell, host.name)
    wait_apiserver(shell, host.name)


def write_kubelet_files(shell: LabShell, spec: LabSpec, first: LabHost, host: LabHost, *, with_ca: bool = True) -> None:
    """The kubelet files kubeadm join leaves on a node: config.yaml, kubeadm-flags.env, kubelet.conf, ca.crt."""
    progress(f"{host.name}: kubelet config, flags and kubeconfig")
    kubelet_cfg = shell.run(
        first.name,
        f"kubectl --kubeconfig {ADMIN} -n kube-system get configmap kubelet-config -o jsonpath='{{.data.kubelet}}'",
    ).stdout
    shell.write(host.name, "/var/lib/kubelet/config.yaml", kubelet_cfg, mode="0644")
    shell.write(host.name, "/var/lib/kubelet/kubeadm-flags.env", kubeadm_flags_env(host), mode="0644")
    kubeconfig = shell.run(
        first.name,
        "kubeadm kubeconfig user --config "
        + KUBEADM_CFG
        + f" --client-name system:node:{shlex.quote(host.name)} --org system:nodes",
    ).stdout
    shell.write(host.name, "/etc/kubernetes/kubelet.conf", kubeconfig, mode="0600")
    if with_ca:
        shell.write(host.name, "/etc/kubernetes/pki/ca.crt", shell.read(first.name, "/etc/kubernetes/pki/ca.crt"))
    shell.run(host.name, "mkdir -p /etc/kubernetes/manifests && chmod 700 /var/lib/kubelet")
