"""Container images for the lab's kubelets, made locally from the lab's static binaries (no registry is reachable).

Each image is a docker-archive tarball (what `ctr images import` reads): one layer with the binaries at
/usr/local/bin, tagged exactly as kubeadm's manifests name it (registry.k8s.io/kube-apiserver:v1.34.4, ...), plus
the pause image the kubelet's sandboxes run. The kubelet then finds them with imagePullPolicy IfNotPresent.
Measured in docs/kubelet-in-lab.md ("Images without a registry").
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

from kubeharden_lab.binaries import LabBinaries, build_pause, cache_root

PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Image:
    """One image: its tag, the files of its layer (path in the image -> file on this machine), its entrypoint."""

    tag: str
    files: tuple[tuple[str, Path], ...]
    entrypoint: tuple[str, ...] = ()

    @property
    def filename(self) -> str:
        return self.tag.rsplit("/", 1)[-1].replace(":", "_") + ".tar"


def kubeadm_images(binaries: LabBinaries) -> dict[str, str]:
    """What kubeadm of this version deploys: short name (kube-apiserver, etcd, pause, ...) -> image tag."""
    kubeadm = str(binaries.path("kubeadm"))
    out = subprocess.run(
        [kubeadm, "config", "images", "list", "--kubernetes-version", binaries.k8s_version],
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    tags = [line.strip() for line in out.splitlines() if line.strip().startswith("registry.k8s.io/")]
    return {tag.rsplit("/", 1)[-1].split(":")[0]: tag for tag in tags}


def lab_images(binaries: LabBinaries) -> list[Image]:
    """The images a lab host may run: the control plane's four and the sandbox (no CoreDNS, no kube-proxy)."""
    tags = kubeadm_images(binaries)
    found = [
        Image(tags[name], ((f"usr/local/bin/{name}", binaries.path(name)),))
        for name in ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
    ]
    etcd = tuple((f"usr/local/bin/{name}", binaries.path(name)) for name in ("etcd", "etcdctl"))
    found.append(Image(tags["etcd"], etcd))
    found.append(Image(tags["pause"], (("pause", build_pause()),), ("/pause",)))
    return found


def _layer(image: Image) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made: set[str] = set()
        for inside, source in image.files:
            parts = inside.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in made:
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
                    made.add(directory)
            info = tar.gettarinfo(str(source), inside)
            info.mode, info.uid, info.gid, info.uname, info.gname, info.mtime = 0o755, 0, 0, "root", "root", 0
            with open(source, "rb") as fh:
                tar.addfile(info, fh)
        tmp = tarfile.TarInfo("tmp")
        tmp.type, tmp.mode = tarfile.DIRTYPE, 0o1777
        tar.addfile(tmp)
    return buffer.getvalue()


def write_archive(image: Image, path: Path) -> None:
    """A docker-archive of one image: manifest.json, the config and one layer (written atomically)."""
    layer = _layer(image)
    layer_id = hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": [PATH_ENV], **({"Entrypoint": list(image.entrypoint)} if image.entrypoint else {})},
        "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
        "history": [{"created_by": "kubeharden lab (local build from the lab's binaries)"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = [{"Config": config_name, "RepoTags": [image.tag], "Layers": [f"{layer_id}/layer.tar"]}]
    tmp = path.with_suffix(".tmp")
    with tarfile.open(tmp, "w") as tar:
        for name, data in (
            (config_name, config_bytes),
            (f"{layer_id}/layer.tar", layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    tmp.replace(path)


def ensure_images(binaries: LabBinaries, root: Path | None = None) -> Path:
    """The directory of the lab's image archives for this version, made once."""
    directory = (root or cache_root()) / "images" / binaries.k8s_version
    if (directory / ".complete").exists():
        return directory
    tmp = directory.with_name(directory.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    names = []
    for image in lab_images(binaries):
        write_archive(image, tmp / image.filename)
        names.append(f"{image.filename} {image.tag}")
    (tmp / ".complete").write_text("\n".join(names) + "\n")
    shutil.rmtree(directory, ignore_errors=True)
    tmp.rename(directory)
    return directory


def archives(directory: Path) -> dict[str, str]:
    """Archive file name -> tag, as ensure_images recorded them."""
    lines = (directory / ".complete").read_text().splitlines()
    return dict(line.split(" ", 1) for line in lines if " " in line)
