"""Lint a static pod manifest for what makes its component fail or misbehave on the node: flags its version
does not accept, files it cannot see, repeated or stray arguments, misspelt mount fields.

Pure logic over a StaticPod. Lint judges whether the manifest is coherent, not whether it is hardened: a
``--bind-address=0.0.0.0`` starts fine and is the verification engine's finding (CIS 1.3.7), not lint's.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from kubeharden.core import versions
from kubeharden.core.manifests import ManifestError, StaticPod, load_manifest, unknown_field_problems
from kubeharden.core.versions import FlagKind

__all__ = ["PATH_FLAGS", "PathFlag", "lint", "lint_text"]

PathUse = Literal["read", "write-file", "write-dir"]


@dataclass(frozen=True)
class PathFlag:
    """A flag whose value is a path the component opens: ``read`` a file, ``write-file`` (its directory must
    be writable), ``write-dir`` (the directory itself must be writable)."""

    flag: str
    use: PathUse


def _read(*flags: str) -> tuple[PathFlag, ...]:
    return tuple(PathFlag(flag, "read") for flag in flags)


_KUBE_SERVING = _read("--tls-cert-file", "--tls-private-key-file", "--client-ca-file", "--requestheader-client-ca-file")
_DELEGATED = _read("--kubeconfig", "--authentication-kubeconfig", "--authorization-kubeconfig")

PATH_FLAGS: Mapping[str, tuple[PathFlag, ...]] = {
    "kube-apiserver": (
        *_KUBE_SERVING,
        *_read(
            "--etcd-cafile",
            "--etcd-certfile",
            "--etcd-keyfile",
            "--kubelet-client-certificate",
            "--kubelet-client-key",
            "--kubelet-certificate-authority",
            "--service-account-key-file",
            "--service-account-signing-key-file",
            "--proxy-client-cert-file",
            "--proxy-client-key-file",
            "--audit-policy-file",
            "--audit-webhook-config-file",
            "--admission-control-config-file",
            "--encryption-provider-config",
            "--authentication-config",
            "--authorization-config",
            "--authentication-token-webhook-config-file",
            "--authorization-webhook-config-file",
            "--oidc-ca-file",
            "--token-auth-file",
            "--egress-selector-config-file",
            "--tracing-config-file",
            "--tls-sni-cert-key",
        ),
        PathFlag("--audit-log-path", "write-file"),
    ),
    "kube-controller-manager": (
        *_KUBE_SERVING,
        *_DELEGATED,
        *_read(
            "--cluster-signing-cert-file",
            "--cluster-signing-key-file",
            "--cluster-signing-kubelet-serving-cert-file",
            "--cluster-signing-kubelet-serving-key-file",
            "--cluster-signing-kubelet-client-cert-file",
            "--cluster-signing-kubelet-client-key-file",
            "--cluster-signing-kube-apiserver-client-cert-file",
            "--cluster-signing-kube-apiserver-client-key-file",
            "--cluster-signing-legacy-unknown-cert-file",
            "--cluster-signing-legacy-unknown-key-file",
            "--root-ca-file",
            "--service-account-private-key-file",
            "--tls-sni-cert-key",
        ),
    ),
    "kube-scheduler": (
        *_KUBE_SERVING,
        *_DELEGATED,
        *_read("--config", "--policy-config-file", "--tls-sni-cert-key"),
    ),
    "etcd": (
        *_read(
            "--cert-file",
            "--key-file",
            "--trusted-ca-file",
            "--client-crl-file",
            "--peer-cert-file",
            "--peer-key-file",
            "--peer-trusted-ca-file",
            "--peer-crl-file",
            "--config-file",
        ),
        PathFlag("--data-dir", "write-dir"),
        PathFlag("--wal-dir", "write-dir"),
    ),
}
"""Path-valued flags per component. A path outside every hostPath mount does not exist inside the
container."""

_MIRROR_MARKERS = ("uid", "resourceVersion", "ownerReferences")


def _paths(flag: str, value: str) -> list[str]:
    """The paths inside a flag value (``--tls-sni-cert-key`` is ``cert,key`` or ``cert,key:names``)."""
    if flag == "--tls-sni-cert-key":
        return [part for part in value.split(":", 1)[0].split(",") if part]
    return [value] if value else []


def _path_problems(pod: StaticPod) -> list[str]:
    problems: list[str] = []
    component = pod.component
    for rule in PATH_FLAGS.get(component, ()):
        for value in _unique(pod.get_flag_values(rule.flag)):
            if rule.flag == "--audit-log-path" and value == "-":
                continue  # "-" is standard output
            for path in _paths(rule.flag, value):
                problems.extend(_one_path_problem(pod, rule, path))
    return problems


def _unique(values: list[str]) -> list[str]:
    """Values in first-seen order without repeats."""
    return list(dict.fromkeys(values))


def _one_path_problem(pod: StaticPod, rule: PathFlag, path: str) -> list[str]:
    component, flag = pod.component, rule.flag
    if not path.startswith("/"):
        return [
            f"{component}: {flag}={path} is a relative path, which depends on the container's working "
            "directory: use an absolute path inside a hostPath mount"
        ]
    found = pod.volume_for_path(path)
    if rule.use == "read":
        if found is None:
            return [
                f"{component}: {flag}={path} is not inside any hostPath volume mount, so {component} cannot "
                f"read it and will not start: add a hostPath volume for {path} (type File, readOnly: true) "
                "mounted at the same path, or move the file under a directory that is already mounted"
            ]
        return []
    directory = posixpath.dirname(posixpath.normpath(path)) if rule.use == "write-file" else path
    needed = "its directory" if rule.use == "write-file" else "it"
    if found is None:
        return [
            f"{component}: {flag}={path} is not inside any hostPath volume mount, so {component} cannot "
            f"write {needed}: add a writable hostPath volume for {directory} (type DirectoryOrCreate) "
            "mounted at the same path"
        ]
    _volume, mount = found
    if mount.read_only:
        return [
            f"{component}: {flag}={path} is on the read-only mount {mount.name!r} ({mount.mount_path}), so "
            f"{component} cannot write there: set readOnly: false on that mount or mount {directory} "
            "separately as a writable hostPath volume"
        ]
    return []


def _duplicate_problems(pod: StaticPod) -> list[str]:
    problems: list[str] = []
    for name, values in pod.duplicate_flags().items():
        kind = versions.flag_kind(pod.component, pod.version, name)
        distinct = _unique(values)
        if len(distinct) < len(values):
            same = "with the same value" if len(distinct) == 1 else "some with the same value"
            problems.append(
                f"{pod.component}: {name} is given {len(values)} times {same}: remove the extra copies, or a "
                "later edit of one of them leaves a stale one behind"
            )
        if kind is FlagKind.SCALAR and len(distinct) > 1:
            shown = ", ".join(distinct)
            problems.append(
                f"{pod.component}: {name} is given {len(values)} times with different values ({shown}); "
                f"{pod.component} uses only the last, {values[-1]}: keep one {name} with the value you mean"
            )
    return problems


def _version_problems(pod: StaticPod) -> list[str]:
    if pod.version is None:
        return [
            f"{pod.component}: cannot read a version from the image {pod.image!r}, so its flags were not "
            "checked against a version: use an image tagged with the version, e.g. "
            "registry.k8s.io/kube-apiserver:v1.29.0"
        ]
    flags = pod.flags()
    if pod.component in versions.KUBE_COMPONENTS:
        # component-base treats '_' and '-' in flag names alike (WordSepNormalizeFunc)
        flags = {name.replace("_", "-"): value for name, value in flags.items()}
    problems = versions.check_flags(pod.component, pod.version, flags)
    if not versions.in_known_range(pod.component, pod.version):
        low, high = versions.KNOWN_KUBERNETES
        problems.insert(
            0,
            f"{pod.component} {versions.format_version(pod.version)} is outside the Kubernetes versions "
            f"kubeharden's rules cover ({low[0]}.{low[1]} to {high[0]}.{high[1]}): flags removed or changed "
            "in other versions are not known, so check them by hand or upgrade the cluster",
        )
    return problems


def _mirror_pod_problems(pod: StaticPod) -> list[str]:
    metadata = pod.document.get("metadata") or {}
    markers = [key for key in _MIRROR_MARKERS if key in metadata]
    if not markers and not pod.document.get("status"):
        return []
    found = ", ".join([f"metadata.{key}" for key in markers] + (["status"] if pod.document.get("status") else []))
    return [
        f"{pod.component}: this is a pod exported from the API ({found} present), not the kubelet's manifest "
        f"file: edit /etc/kubernetes/manifests/{pod.component}.yaml on the node instead"
    ]


def lint(pod: StaticPod) -> list[str]:
    """Every problem found in ``pod``, one sentence each (what, where, what to do); empty when it is
    coherent."""
    problems: list[str] = []
    problems.extend(_version_problems(pod))
    problems.extend(_duplicate_problems(pod))
    for word in pod.positional_args():
        problems.append(
            f"{pod.component}: the command has the stray argument {word!r}; the control-plane binaries take "
            "only flags: remove it or join it to its flag as --name=value"
        )
    problems.extend(_path_problems(pod))
    problems.extend(unknown_field_problems(pod.document))
    problems.extend(_mirror_pod_problems(pod))
    return problems


def lint_text(text: str, source: str | None = None) -> list[str]:
    """Lint manifest text: the reasons it cannot be loaded, or else ``lint`` of the loaded pod."""
    try:
        pod = load_manifest(text, source)
    except ManifestError as error:
        prefix = f"{source}: " if source else ""
        return [prefix + problem for problem in error.problems]
    prefix = f"{source}: " if source else ""
    return [prefix + problem for problem in lint(pod)]
