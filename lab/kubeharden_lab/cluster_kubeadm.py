"""Make the lab's cluster as an operator does, on real kubelets: `kubeadm init` on the first control plane,
`kubeadm join --control-plane` on the others, `kubeadm join` on workers, over SSH. The images kubeadm's manifests
name are imported into each host's containerd first (no registry is reachable); the kubelets' serving
certificates (serverTLSBootstrap) are approved as an operator would, and the nodes are Ready on the bridge CNI.
"""

from __future__ import annotations

import re
import secrets
import shlex

import yaml

from kubeharden_lab.access import LabShell
from kubeharden_lab.cluster import ADMIN, GUEST_LIB, KUBEADM_CFG, progress, wait_apiserver, wait_etcd, wait_until
from kubeharden_lab.config import LabHost, LabSpec
from kubeharden_lab.kubeadm_config import KUBEADM_API, cluster_configuration, node_registration
from kubeharden_lab.machines import GUEST_IMAGES

CONTROL_PLANE_IMAGES = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd", "pause")
KUBECTL = f"kubectl --kubeconfig {ADMIN} --request-timeout=20s"
PHASES = "{range .items[*]}{.metadata.name}={.status.phase} {end}"
NODE_BOOTSTRAP_GROUP = "system:bootstrappers:kubeadm:default-node-token"
_HASH_RE = re.compile(r"--discovery-token-ca-cert-hash\s+(sha256:[0-9a-f]{64})")


def bootstrap_token() -> str:
    """A kubeadm bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}), new for each lab."""
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
    pick = "".join(secrets.choice(alphabet) for _ in range(22))
    return f"{pick[:6]}.{pick[6:]}"


def init_document(spec: LabSpec, host: LabHost, token: str, certificate_key: str) -> str:
    """InitConfiguration (the join token, the uploaded certificates' key) + ClusterConfiguration + the
    KubeletConfiguration kubeadm uploads to the kubelet-config ConfigMap."""
    init = {
        "apiVersion": KUBEADM_API,
        "kind": "InitConfiguration",
        "bootstrapTokens": [
            {"token": token, "ttl": "4h", "groups": ["system:bootstrappers:kubeadm:default-node-token"]}
        ],
        "certificateKey": certificate_key,
        "localAPIEndpoint": {"advertiseAddress": host.address, "bindPort": 6443},
        "nodeRegistration": node_registration(host),
    }
    kubelet = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "serverTLSBootstrap": True,  # serving certificates signed by the cluster CA (approved below)
    }
    return yaml.safe_dump_all([init, cluster_configuration(spec), kubelet], sort_keys=False)


def join_document(spec: LabSpec, host: LabHost, token: str, ca_hash: str, certificate_key: str | None = None) -> str:
    """JoinConfiguration of a worker, or of a control plane when ``certificate_key`` is given."""
    join: dict[str, object] = {
        "apiVersion": KUBEADM_API,
        "kind": "JoinConfiguration",
        "discovery": {
            "bootstrapToken": {
                "token": token,
                "apiServerEndpoint": f"{spec.control_planes[0].address}:6443",
                "caCertHashes": [ca_hash],
            }
        },
        "nodeRegistration": node_registration(host),
    }
    if certificate_key is not None:
        join["controlPlane"] = {
            "localAPIEndpoint": {"advertiseAddress": host.address, "bindPort": 6443},
            "certificateKey": certificate_key,
        }
    return yaml.safe_dump(join, sort_keys=False)


def import_images(shell: LabShell, host: LabHost, archives: dict[str, str]) -> None:
    """Import the archives the host's role needs into containerd's k8s.io namespace (native snapshotter)."""
    wanted = CONTROL_PLANE_IMAGES if host.role == "control_plane" else ("pause",)
    files = [name for name, tag in archives.items() if tag.rsplit("/", 1)[-1].split(":")[0] in wanted]
    progress(f"{host.name}: waiting for containerd, then importing {len(files)} images")
    wait_until(f"{host.name}: containerd's CRI plugin", lambda: _cri_ok(shell, host), 120, 2.0)
    for name in files:
        shell.run(host.name, f"ctr -n k8s.io images import --snapshotter native {GUEST_IMAGES}/{name}", timeout=600)


def _cri_ok(shell: LabShell, host: LabHost) -> tuple[bool, str]:
    """containerd answers and its CRI plugin loaded; a CRI plugin that failed (inotify instances used up at start)
    is retried once by restarting containerd."""
    res = shell.run(host.name, "ctr plugins ls 2>&1 | grep -E 'io.containerd.grpc.v1 +cri '", check=False, timeout=30)
    if res.returncode == 0 and " ok" in res.stdout:
        return True, res.stdout
    if " error" in res.stdout:
        shell.run(host.name, "systemctl restart containerd", check=False, timeout=60)
    return False, res.stdout + res.stderr


def _kubeadm(shell: LabShell, host: LabHost, args: str, what: str) -> None:
    progress(f"{host.name}: kubeadm {what}")
    shell.run(host.name, f"kubeadm {args} --v=1", timeout=900)


def init_first_control_plane(shell: LabShell, spec: LabSpec, host: LabHost, token: str, key: str) -> None:
    shell.write(host.name, KUBEADM_CFG, init_document(spec, host, token, key), mode="0600")
    _kubeadm(
        shell, host,
        f"init --config {KUBEADM_CFG} --upload-certs --skip-phases=addon/coredns,addon/kube-proxy",
        "init (the kubelet runs the static pods)",
    )  # fmt: skip
    wait_etcd(shell, host.name)
    wait_apiserver(shell, host.name)


def ca_cert_hash(shell: LabShell, first: LabHost) -> str:
    """The discovery hash of the cluster CA, as `kubeadm token create --print-join-command` prints it."""
    out = shell.run(first.name, "kubeadm token create --print-join-command --ttl 1h").stdout
    found = _HASH_RE.search(out)
    if found is None:
        raise RuntimeError(f"{first.name}: no --discovery-token-ca-cert-hash in kubeadm's join command: {out[-300:]}")
    return found.group(1)


def join(shell: LabShell, spec: LabSpec, host: LabHost, token: str, ca_hash: str, key: str | None) -> None:
    path = "/root/kubeadm-join.yaml"
    shell.write(host.name, path, join_document(spec, host, token, ca_hash, key), mode="0600")
    what = "join --control-plane" if key is not None else "join"
    _kubeadm(shell, host, f"join --config {path}", what)
    if key is not None:
        wait_etcd(shell, host.name)
        wait_apiserver(shell, host.name)


def approve_serving_certificates(shell: LabShell, spec: LabSpec) -> None:
    """Approve each node's kubelet-serving CSR (what an operator or an approver controller does for
    serverTLSBootstrap), until every node has one approved."""
    first = spec.control_planes[0].name
    nodes = {h.name for h in spec.hosts}
    query = (
        f'{KUBECTL} get csr -o jsonpath=\'{{range .items[?(@.spec.signerName=="kubernetes.io/kubelet-serving")]}}'
        '{.metadata.name} {.spec.username} {.status.conditions[0].type}{"\\n"}{end}\''
    )

    def probe() -> tuple[bool, str]:
        out = shell.run(first, query, check=False, timeout=30).stdout
        approved: set[str] = set()
        for line in out.splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            node = parts[1].removeprefix("system:node:")
            if len(parts) == 2:
                shell.run(first, f"{KUBECTL} certificate approve {shlex.quote(parts[0])}", check=False, timeout=30)
            elif parts[2] == "Approved":
                approved.add(node)
        missing = nodes - approved
        return not missing, f"no approved serving certificate yet for {', '.join(sorted(missing))}"

    progress("approving the kubelets' serving certificates (serverTLSBootstrap)")
    wait_until("kubelet serving certificates", probe, 180, 2.0)


def wait_nodes_ready(shell: LabShell, spec: LabSpec, timeout: float = 240.0) -> None:
    first = spec.control_planes[0].name
    query = (
        f"{KUBECTL} get nodes -o jsonpath='{{range .items[*]}}{{.metadata.name}} "
        '{.status.conditions[?(@.type=="Ready")].status}{"\\n"}{end}\''
    )

    def probe() -> tuple[bool, str]:
        out = shell.run(first, query, check=False, timeout=30).stdout
        ready = {line.split()[0] for line in out.splitlines() if line.split()[1:] == ["True"]}
        missing = {h.name for h in spec.hosts} - ready
        return not missing, f"not Ready: {', '.join(sorted(missing))} ({out.strip()})"

    progress("waiting for every node to be Ready")
    wait_until("nodes Ready", probe, timeout, 2.0)


def wait_mirror_pods(shell: LabShell, spec: LabSpec, timeout: float = 240.0) -> None:
    """Every control plane's four static pods are Running as the API server sees them (their mirror pods)."""
    first = spec.control_planes[0].name
    query = f"{KUBECTL} -n kube-system get pods -o jsonpath='{PHASES}'"
    wanted = {f"{pod}-{h.name}" for h in spec.control_planes for pod in CONTROL_PLANE_IMAGES if pod != "pause"}

    def probe() -> tuple[bool, str]:
        out = shell.run(first, query, check=False, timeout=30).stdout
        running = {word.split("=")[0] for word in out.split() if word.endswith("=Running")}
        missing = wanted - running
        return not missing, f"not Running yet: {', '.join(sorted(missing))}"

    wait_until("static pods Running (mirror pods)", probe, timeout, 2.0)


def wait_pods_current(shell: LabShell, host: str, timeout: float = 300.0) -> None:
    """Every static pod runs its manifest's CURRENT command (the kubelet replaced the old container)."""

    def probe() -> tuple[bool, str]:
        res = shell.run(host, f"python3 {GUEST_LIB}/kubelet_pods_current.py", check=False, timeout=30)
        return res.returncode == 0, res.stdout + res.stderr

    wait_until(f"{host}: static pods running their current manifests", probe, timeout, 2.0)


def make_cluster(shell: LabShell, spec: LabSpec, archives: dict[str, str]) -> None:
    """The whole cluster: images everywhere, init, control-plane joins, worker joins, serving certificates."""
    for host in spec.hosts:
        import_images(shell, host, archives)
    token, key = bootstrap_token(), secrets.token_hex(32)
    first = spec.control_planes[0]
    init_first_control_plane(shell, spec, first, token, key)
    ca_hash = ca_cert_hash(shell, first)
    for host in spec.control_planes[1:]:
        join(shell, spec, host, token, ca_hash, key)
    for host in spec.workers:
        join(shell, spec, host, token, ca_hash, None)
    approve_serving_certificates(shell, spec)
    wait_nodes_ready(shell, spec)
    wait_mirror_pods(shell, spec)
