"""Build the lab's real Kubernetes binaries from the upstream Go modules, cached by version.

No registry this project reaches ships kube-apiserver, so the lab compiles kubeadm, kube-apiserver,
kube-controller-manager, kube-scheduler and kubectl from k8s.io/kubernetes, and etcd + etcdctl from the
go.etcd.io modules at the version that kubeadm of that release deploys. Binaries are static (CGO_ENABLED=0),
version-stamped like the upstream build, and cached outside the repository so a second run costs seconds.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_K8S_VERSION = "v1.34.4"
K8S_COMMANDS = ("kubeadm", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet")
ETCD_COMMANDS = ("etcd", "etcdctl")
_VERSION_RE = re.compile(r"^v1\.(3\d)\.(\d+)$")
_STAGING_RE = re.compile(r"^\s*(k8s\.io/[\w.-]+)\s+=>\s+\./staging/src/", re.MULTILINE)
_ETCD_CONST_RE = re.compile(r'DefaultEtcdVersion\s*=\s*"(\d+\.\d+\.\d+)(?:-\d+)?"')


class BuildError(RuntimeError):
    """A build step failed; the message says which and why."""


@dataclass(frozen=True)
class LabBinaries:
    """Where the built binaries of one Kubernetes version live."""

    k8s_version: str
    etcd_version: str
    k8s_dir: Path
    etcd_dir: Path

    def path(self, command: str) -> Path:
        base = self.etcd_dir if command in ETCD_COMMANDS else self.k8s_dir
        return base / command


def cache_root() -> Path:
    """The cache lives outside the repository; KUBEHARDEN_CACHE moves it."""
    return Path(os.environ.get("KUBEHARDEN_CACHE", "/var/cache/kubeharden"))


def validate_k8s_version(version: str) -> str:
    """Accept v1.3x.y (the releases the lab supports); say what is wrong otherwise."""
    if not version.startswith("v"):
        version = "v" + version
    if not _VERSION_RE.match(version):
        raise BuildError(
            f"Kubernetes version {version!r} is not supported by the lab: use a served v1.3x.y release "
            f"(default {DEFAULT_K8S_VERSION})."
        )
    return version


def staging_modules(kubernetes_gomod: str) -> list[str]:
    """The staging modules k8s.io/kubernetes replaces with ./staging/src/... (read, not hard-coded)."""
    return sorted(set(_STAGING_RE.findall(kubernetes_gomod)))


def etcd_version_from_constants(constants_go: str) -> str:
    """The etcd version kubeadm deploys, from cmd/kubeadm/app/constants/constants.go."""
    match = _ETCD_CONST_RE.search(constants_go)
    if not match:
        raise BuildError("could not find DefaultEtcdVersion in kubeadm's constants.go")
    return "v" + match.group(1)


def lab_gomod(k8s_version: str, staging: Sequence[str], go_line: str) -> str:
    """go.mod of the lab's own module: require k8s.io/kubernetes, pin each staging module to v0.Y.Z."""
    minor_patch = k8s_version.removeprefix("v1.")
    lines = [
        "module kubeharden.local/labbuild",
        "",
        f"go {go_line}",
        "",
        f"require k8s.io/kubernetes {k8s_version}",
        "",
        "replace (",
    ]
    lines += [f"\t{mod} => {mod} v0.{minor_patch}" for mod in staging]
    lines += [")", ""]
    return "\n".join(lines)


def tools_go(packages: Sequence[str]) -> str:
    """A build-tagged file that makes `go mod tidy` resolve the main packages we build."""
    imports = "\n".join(f'\t_ "{p}"' for p in packages)
    return f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n"


def version_ldflags(k8s_version: str) -> str:
    """Stamp the version the way the upstream build does, so kubeadm and --version see the real one."""
    major, minor = k8s_version.removeprefix("v").split(".")[:2]
    values = {
        "gitVersion": k8s_version,
        "gitMajor": major,
        "gitMinor": minor,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-01T00:00:00Z",
    }
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [f"-X {pkg}.{k}={v}" for k, v in values.items()]
    return " ".join(flags)


def _log(message: str) -> None:
    print(f"[lab build] {message}", file=sys.stderr, flush=True)


def _go_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({"CGO_ENABLED": "0", "GOFLAGS": "-mod=mod -buildvcs=false"})
    return env


def _run(cmd: Sequence[str], cwd: Path, what: str) -> str:
    proc = subprocess.run(list(cmd), cwd=cwd, env=_go_env(), capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BuildError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return proc.stdout


def _go_build(packages: Sequence[str], output: str, cwd: Path, ldflags: str, what: str) -> None:
    """Run one `go build -v -o OUTPUT pkg...` (shared compile work), showing progress as packages compile."""
    cmd = ["go", "build", "-v", "-trimpath", f"-ldflags={ldflags}", "-o", output, *packages]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=cwd, env=_go_env(), stderr=subprocess.PIPE, text=True)
    if not (proc.stderr is not None):
        raise AssertionError("invariant: proc.stderr is not None")  # an invariant, kept under python -O
    last = started
    tail: list[str] = []
    for count, line in enumerate(proc.stderr, start=1):
        tail = [*tail[-60:], line]
        now = time.monotonic()
        if now - last >= 20:
            _log(f"{what}: {count} packages compiled, {now - started:.0f}s")
            last = now
    if proc.wait() != 0:
        raise BuildError(f"{what}: go build failed:\n{''.join(tail)}")
    _log(f"{what}: done in {time.monotonic() - started:.0f}s")


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _publish(tmp: Path, final: Path, marker_text: str) -> None:
    """Move a finished build into place; the .complete marker is what later runs trust."""
    (tmp / ".complete").write_text(marker_text + "\n")
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)


def _download(module: str, cwd: Path) -> dict[str, str]:
    out = _run(["go", "mod", "download", "-json", module], cwd, f"go mod download {module}")
    info: dict[str, str] = json.loads(out)
    if info.get("Error"):
        raise BuildError(f"go mod download {module}: {info['Error']}")
    return info


def _go_line(gomod_text: str) -> str:
    match = re.search(r"^go\s+(\S+)", gomod_text, re.MULTILINE)
    return match.group(1) if match else "1.24"


def _complete(directory: Path, commands: Sequence[str]) -> bool:
    """A finished build with every command (a cache made before a command was added is built again)."""
    return (directory / ".complete").exists() and all((directory / c).is_file() for c in commands)


PAUSE_GO = """package main

// The lab's pause image: what registry.k8s.io/pause does (hold the pod's namespaces, reap children, exit on
// SIGINT/SIGTERM), built locally because no registry is reachable.

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 4)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range signals {
		if sig != syscall.SIGCHLD {
			os.Exit(0)
		}
		for {
			var status syscall.WaitStatus
			if pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil); pid <= 0 || err != nil {
				break
			}
		}
	}
}
"""


def build_pause(root: Path | None = None) -> Path:
    """The pause program of the lab's sandbox image (a static binary of a few lines of Go, no module needed)."""
    base = (root or cache_root()) / "bin" / "pause"
    if _complete(base, ("pause",)):
        return base / "pause"
    work = root_work = (root or cache_root()) / "build" / "pause"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module kubeharden.local/pause\n\ngo 1.24\n")
    (work / "main.go").write_text(PAUSE_GO)
    tmp = _fresh_dir(base.with_name("pause.tmp"))
    _run(["go", "build", "-trimpath", "-ldflags=-s -w", "-o", str(tmp / "pause"), "."], root_work, "go build pause")
    _publish(tmp, base, "pause")
    return base / "pause"


def build_kubernetes(k8s_version: str, root: Path) -> tuple[Path, str]:
    """Build the k8s.io/kubernetes commands; return their directory and kubeadm's etcd version."""
    work = root / "build" / f"kubernetes-{k8s_version}"
    out_dir = root / "bin" / f"kubernetes-{k8s_version}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module kubeharden.local/probe\n\ngo 1.24\n")
    _log(f"downloading k8s.io/kubernetes@{k8s_version} through the Go module proxy")
    info = _download(f"k8s.io/kubernetes@{k8s_version}", work)
    gomod_text = Path(info["GoMod"]).read_text()
    source = Path(info["Dir"])
    etcd_version = etcd_version_from_constants((source / "cmd/kubeadm/app/constants/constants.go").read_text())
    if _complete(out_dir, K8S_COMMANDS):
        return out_dir, etcd_version
    packages = [f"k8s.io/kubernetes/cmd/{c}" for c in K8S_COMMANDS]
    (work / "go.mod").write_text(lab_gomod(k8s_version, staging_modules(gomod_text), _go_line(gomod_text)))
    (work / "tools.go").write_text(tools_go(packages))
    _log("resolving module graph (go mod tidy)")
    _run(["go", "mod", "tidy"], work, "go mod tidy (kubernetes)")
    tmp = _fresh_dir(out_dir.with_name(out_dir.name + ".tmp"))
    _go_build(packages, f"{tmp}/", work, version_ldflags(k8s_version), f"kubernetes {k8s_version}")
    _publish(tmp, out_dir, etcd_version)
    return out_dir, etcd_version


def build_etcd(etcd_version: str, root: Path) -> Path:
    """Build etcd and etcdctl from go.etcd.io/etcd/{server,etcdctl}/v3 at the given version."""
    work = root / "build" / f"etcd-{etcd_version}"
    out_dir = root / "bin" / f"etcd-{etcd_version}"
    if (out_dir / ".complete").exists():
        return out_dir
    work.mkdir(parents=True, exist_ok=True)
    packages = ["go.etcd.io/etcd/server/v3", "go.etcd.io/etcd/etcdctl/v3"]
    (work / "go.mod").write_text(
        "module kubeharden.local/etcdbuild\n\ngo 1.24\n\nrequire (\n"
        f"\tgo.etcd.io/etcd/server/v3 {etcd_version}\n\tgo.etcd.io/etcd/etcdctl/v3 {etcd_version}\n)\n"
    )
    (work / "tools.go").write_text(tools_go(packages))
    _log(f"resolving etcd {etcd_version} (go mod tidy)")
    _run(["go", "mod", "tidy"], work, "go mod tidy (etcd)")
    tmp = _fresh_dir(out_dir.with_name(out_dir.name + ".tmp"))
    # Both main packages end in "/v3", so each gets its own -o file.
    for name, pkg in zip(ETCD_COMMANDS, packages, strict=True):
        _go_build([pkg], str(tmp / name), work, "-s -w", f"{name} {etcd_version}")
    _publish(tmp, out_dir, etcd_version)
    return out_dir


def ensure_binaries(k8s_version: str = DEFAULT_K8S_VERSION, root: Path | None = None) -> LabBinaries:
    """Build (or find in the cache) every binary the lab needs for one Kubernetes version."""
    k8s_version = validate_k8s_version(k8s_version)
    root = root or cache_root()
    k8s_dir = root / "bin" / f"kubernetes-{k8s_version}"
    marker = k8s_dir / ".complete"
    if _complete(k8s_dir, K8S_COMMANDS):
        etcd_version = marker.read_text().strip()
        etcd_dir = root / "bin" / f"etcd-{etcd_version}"
        if (etcd_dir / ".complete").exists():
            return LabBinaries(k8s_version, etcd_version, k8s_dir, etcd_dir)
    if shutil.which("go") is None:
        raise BuildError("the Go toolchain is needed to build the lab's Kubernetes binaries: install Go first")
    started = time.monotonic()
    k8s_dir, etcd_version = build_kubernetes(k8s_version, root)
    etcd_dir = build_etcd(etcd_version, root)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
    _log(
        f"binaries for {k8s_version} (etcd {etcd_version}) ready in {time.monotonic() - started:.0f}s; "
        f"peak memory of one build process {peak_mb} MB"
    )
    return LabBinaries(k8s_version, etcd_version, k8s_dir, etcd_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    version = args[0] if args else DEFAULT_K8S_VERSION
    try:
        binaries = ensure_binaries(version)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(binaries.k8s_dir)
    print(binaries.etcd_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
