"""The pieces of a lab host that runs a real kubelet, tested without booting one: the cgroup placement, the image
archives, containerd's and the CNI's configuration, and the kubeadm documents (validated by the lab's kubeadm)."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from kubeharden_lab import cgroups, cluster_kubeadm, images, node_runtime
from kubeharden_lab.binaries import cache_root
from kubeharden_lab.config import make_spec

MOUNTINFO = """\
30 25 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
32 30 0:28 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,xattr,name=systemd
33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpu,cpuacct
34 30 0:30 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,cpuset
35 30 0:31 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime - cgroup cgroup rw,memory
"""
PROC_CGROUP = "5:memory:/session/42\n4:cpuset:/\n3:cpu,cpuacct:/\n2:name=systemd:/\n1:rdma:/\n0::/\n"


def test_every_hierarchy_the_launcher_is_in_gets_the_hosts_own_cgroup_under_its_own_path() -> None:
    found = cgroups.parse_hierarchies(PROC_CGROUP, MOUNTINFO)
    assert [h.mountpoint for h in found] == [
        "/sys/fs/cgroup/memory",
        "/sys/fs/cgroup/cpuset",
        "/sys/fs/cgroup/cpu,cpuacct",
        "/sys/fs/cgroup/systemd",
        "/sys/fs/cgroup/unified",
    ]  # fmt: skip  (rdma is not mounted here: left out)
    script = "\n".join(cgroups.enter_script("lab1", "cp1", found))
    assert "echo $$ > /sys/fs/cgroup/memory/session/42/kubeharden/lab1/cp1/cgroup.procs" in script
    # a new cpuset cgroup takes no process until it has cpus and mems: copied down at every level
    assert (
        "cat /sys/fs/cgroup/cpuset/kubeharden/cpuset.cpus > /sys/fs/cgroup/cpuset/kubeharden/lab1/cpuset.cpus" in script
    )
    assert script.count("cpuset.mems >") == 3


def test_the_cni_gives_each_host_its_own_pod_range_and_containerd_uses_the_native_snapshotter() -> None:
    spec = make_spec("t", "10.231.7.0/24", "v1.34.4", 2, 1, False, kubelet=True)
    ranges = [json.loads(node_runtime.cni_conflist(spec, h))["plugins"][0]["ipam"]["ranges"][0][0]["subnet"]
              for h in spec.hosts]  # fmt: skip
    assert ranges == ["10.244.1.0/24", "10.244.2.0/24", "10.244.3.0/24"]
    config = node_runtime.containerd_config("registry.k8s.io/pause:3.10.1")
    for line in ('sandbox_image = "registry.k8s.io/pause:3.10.1"', 'snapshotter = "native"',
                 "restrict_oom_score_adj = true", "SystemdCgroup = true"):  # fmt: skip
        assert line in config


def test_an_image_archive_is_what_ctr_imports(tmp_path: Path) -> None:
    binary = tmp_path / "kube-apiserver"
    binary.write_bytes(b"\x7fELF fake")
    image = images.Image("registry.k8s.io/kube-apiserver:v1.34.4", (("usr/local/bin/kube-apiserver", binary),))
    archive = tmp_path / image.filename
    images.write_archive(image, archive)
    assert archive.name == "kube-apiserver_v1.34.4.tar"
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
        assert manifest[0]["RepoTags"] == ["registry.k8s.io/kube-apiserver:v1.34.4"]
        config = json.load(tar.extractfile(manifest[0]["Config"]))  # type: ignore[arg-type]
        with tarfile.open(fileobj=tar.extractfile(manifest[0]["Layers"][0])) as layer:
            member = layer.getmember("usr/local/bin/kube-apiserver")
            assert member.mode == 0o755 and member.uid == 0
            assert layer.extractfile(member).read() == b"\x7fELF fake"  # type: ignore[union-attr]
    assert "/usr/local/bin" in config["config"]["Env"][0]


def test_bootstrap_tokens_have_kubeadms_format_and_are_new_each_time() -> None:
    tokens = {cluster_kubeadm.bootstrap_token() for _ in range(20)}
    assert len(tokens) == 20
    assert all(len(t) == 23 and t[6] == "." and t.replace(".", "").isalnum() and t.islower() for t in tokens)


KUBEADM = cache_root() / "bin" / "kubernetes-v1.34.4" / "kubeadm"


@pytest.mark.skipif(not KUBEADM.exists(), reason="the lab's kubeadm is built by `make lab-assets` (make test does)")
def test_the_init_and_join_documents_are_valid_for_kubeadm(tmp_path: Path) -> None:
    spec = make_spec("t", "10.231.7.0/24", "v1.34.4", 2, 1, False, kubelet=True)
    token, key, ca = cluster_kubeadm.bootstrap_token(), "ab" * 32, "sha256:" + "0" * 64
    documents = {
        "init": cluster_kubeadm.init_document(spec, spec.control_planes[0], token, key),
        "join-cp": cluster_kubeadm.join_document(spec, spec.control_planes[1], token, ca, key),
        "join-worker": cluster_kubeadm.join_document(spec, spec.workers[0], token, ca),
    }
    for name, text in documents.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        proc = subprocess.run([str(KUBEADM), "config", "validate", "--config", str(path)],
                              capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
