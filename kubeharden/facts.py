"""pyinfra facts kubeharden reads from control-plane nodes, each in one remote command.

Facts print JSON from a small python3 program (nodes of kubeadm clusters have python3) and tolerate what they
cannot read. Key and secret files are only stat'ed and hashed, never read back.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from typing import Any

from pyinfra.api.facts import FactBase

_STATE_PROGRAM = r"""
import glob, grp, hashlib, json, os, pwd, stat, sys
paths = []
out_globs = {}
for p in json.loads(sys.argv[1]):
    if "*" in p:
        out_globs[p] = sorted(glob.glob(p, recursive=True))
        paths += out_globs[p]
    else:
        paths.append(p)
out = {"manifests": {}, "files": {}, "globs": {}}
for c in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"):
    p = "/etc/kubernetes/manifests/%s.yaml" % c
    try:
        out["manifests"][c] = open(p).read()
    except OSError:
        out["manifests"][c] = None
for p in paths:
    try:
        st = os.stat(p)
    except OSError:
        out["files"][p] = None
        continue
    info = {"mode": format(stat.S_IMODE(st.st_mode), "o"), "dir": stat.S_ISDIR(st.st_mode)}
    try:
        info["owner"] = "%s:%s" % (pwd.getpwuid(st.st_uid).pw_name, grp.getgrgid(st.st_gid).gr_name)
    except KeyError:
        info["owner"] = "%d:%d" % (st.st_uid, st.st_gid)
    if stat.S_ISREG(st.st_mode):
        info["sha256"] = hashlib.sha256(open(p, "rb").read()).hexdigest()
    out["files"][p] = info
out["globs"] = out_globs
print(json.dumps(out))
"""


def _python_command(program: str, *args: str) -> str:
    """`python3 -c` with the program base64-encoded, so no quoting of its text is needed."""
    encoded = base64.b64encode(program.encode()).decode()
    quoted = " ".join("'" + a.replace("'", "'\"'\"'") + "'" for a in args)
    return f"python3 -c \"import base64;exec(base64.b64decode('{encoded}'))\" {quoted}"


class ControlPlaneState(FactBase[dict[str, Any]]):
    """The control-plane manifests and the stat (mode, owner, sha256) of the given paths (globs expanded).

    .. code:: python

        {"manifests": {"kube-apiserver": "<text>" | None, ...},
         "files": {"/etc/kubernetes/admin.conf": {"mode": "600", "owner": "root:root", "sha256": "..."} | None},
         "globs": {"/etc/kubernetes/pki/**/*.key": ["/etc/kubernetes/pki/sa.key", ...]}}
    """

    def requires_command(self, paths: Iterable[str] = ()) -> str:
        return "python3"

    def command(self, paths: Iterable[str] = ()) -> str:
        return _python_command(_STATE_PROGRAM, json.dumps(sorted(set(paths))))

    def process(self, output: Iterable[str]) -> dict[str, Any]:
        data: dict[str, Any] = json.loads("\n".join(output))
        return data

    @staticmethod
    def default() -> dict[str, Any]:
        return {"manifests": {}, "files": {}, "globs": {}}


class KubeadmClusterConfiguration(FactBase[str | None]):
    """The ClusterConfiguration of the kubeadm-config ConfigMap (via kubectl and admin.conf), or None."""

    def requires_command(self) -> str:
        return "kubectl"

    def command(self) -> str:
        return (
            "kubectl --kubeconfig /etc/kubernetes/admin.conf -n kube-system get configmap kubeadm-config "
            "-o jsonpath='{.data.ClusterConfiguration}' --request-timeout=20s || true"
        )

    def process(self, output: Iterable[str]) -> str | None:
        text = "\n".join(output)
        return text if text.strip() else None


_ENCRYPTION_PROGRAM = r"""
import hashlib, json, sys
try:
    data = open(sys.argv[1], "rb").read()
except FileNotFoundError:
    print(json.dumps(None))
else:
    print(json.dumps({"sha256": hashlib.sha256(data).hexdigest(), "text": data.decode("utf-8", "replace")}))
"""


class EncryptionConfigFile(FactBase[Any]):
    """The EncryptionConfiguration at ``path`` read back (so its key is reused, never regenerated), or None when
    the node has no such file.

    .. code:: python

        ReadBack(sha256="...", text=<hidden from reprs>) | None

    The key travels only in this fact's output, which pyinfra shows only at debug verbosity (-vv); kubeharden
    never runs at that level, and the returned object hides the text from reprs and logs.
    """

    def requires_command(self, path: str) -> str:
        return "python3"

    def command(self, path: str) -> str:
        return _python_command(_ENCRYPTION_PROGRAM, path)

    def process(self, output: Iterable[str]) -> Any:
        from kubeharden.encryption import ReadBack

        data = json.loads("\n".join(output))
        if data is None:
            return None
        return ReadBack(str(data["sha256"]), str(data["text"]))
