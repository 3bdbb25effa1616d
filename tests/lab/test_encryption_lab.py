"""Secrets encryption at rest on a real apiserver and etcd: enable it, prove it in etcd, keep the key on re-runs,
rotate it with every Secret readable throughout, refuse mismatching files, and never show the key anywhere.

The steps build on each other, so the tests of this module run in order on one lab (2 control planes, 1 worker).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import KUBEHARDEN, REPO, Lab, run_cli, running_lab, wait_for

CONFIG = "/etc/kubernetes/encryption/encryption-config.yaml"
ETCDCTL = (
    "ETCDCTL_API=3 /usr/local/bin/etcdctl --endpoints=https://127.0.0.1:2379 --cacert /etc/kubernetes/pki/etcd/ca.crt"
    " --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key"
)
SECRETS = {"before": "made-before-hardening", "after": "made-after-hardening"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with running_lab(tmp_path_factory.mktemp("enclab"), "e", control_planes=2, workers=1) as made:
        yield made


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    """What the ordered steps hand to each other; `outputs` and `files` are scanned for the key at the end."""
    return {"outputs": [], "files": [], "keys": set()}


def control_planes(lab: Lab) -> list[str]:
    return [h.name for h in lab.record.spec.control_planes]


def raw_prefix(lab: Lab, name: str, host: str = "cp1") -> str:
    """The first bytes of the Secret's raw value in etcd (never its data: only up to the key name)."""
    out = lab.sh(host, f"{ETCDCTL} get /registry/secrets/default/{name} --print-value-only | head -c 64 | base64 -w0")
    raw = base64.b64decode(out.strip())
    if raw.startswith(b"k8s:enc:"):
        return b":".join(raw.split(b":")[:5]).decode() + ":"
    return "unencrypted" if raw.startswith(b"k8s\x00") else repr(raw[:8])


def file_sha(lab: Lab, host: str) -> str:
    return lab.sh(host, f"sha256sum {CONFIG} 2>/dev/null || true").split(" ")[0]


def file_keys(lab: Lab, host: str) -> list[tuple[str, str]]:
    """(name, secret) of the secretbox keys in the host's file, read here only to search outputs for them."""
    doc = yaml.safe_load(lab.sh(host, f"cat {CONFIG}"))
    first = doc["resources"][0]["providers"][0]["secretbox"]
    return [(k["name"], k["secret"]) for k in first["keys"]]


def secret_value(lab: Lab, name: str, server: str | None = None) -> str:
    extra = f" --server https://{server}:6443" if server else ""
    out = lab.kubectl("cp1", f"{extra} --request-timeout=10s get secret {name} -o jsonpath={{.data.value}}")
    return base64.b64decode(out.strip()).decode()


def decoded(data: str) -> str:
    try:
        return base64.b64decode(data.strip(), validate=True).decode(errors="replace")
    except ValueError:
        return f"(not base64: {data.strip()[:40]!r})"


def secret_values(kubectl_json: str) -> dict[str, str]:
    """name -> base64 value of what `kubectl get secret A B -o json` printed (a List, or one object for one name)."""
    try:
        doc = json.loads(kubectl_json)
    except ValueError:
        return {}
    items = doc.get("items", []) if doc.get("kind") == "List" else [doc]
    return {i["metadata"]["name"]: i.get("data", {}).get("value", "") for i in items if "metadata" in i}


DECRYPTION_ERRORS = ("transformer", "decrypt", "identity", "failed to decode", "invalid padding")


class Sampler:
    """A round every 0.5 s: write a new Secret through one apiserver (in turn), then read it back through EVERY
    apiserver at once (one thread and one kubectl call per apiserver).

    Each round also reads the `known` Secrets (name: value) through every apiserver: those were written before
    and must stay readable while their key moves (a rotation). A read that fails with a decryption error ("identity
    transformer tried to read encrypted data") or returns the wrong value is FAILED. Any other error (an apiserver
    restarting through the health gate: refused, not ready, timeout) is "unavailable"; each apiserver must also
    answer some reads. A round that takes longer than 0.5 s starts the next at once (counted as late).
    """

    PERIOD = 0.5

    def __init__(self, lab: Lab, servers: list[str], known: dict[str, str] | None = None) -> None:
        self.lab, self.servers, self.known = lab, servers, dict(known or {})
        self.failed: list[str] = []
        self.unavailable = 0
        self.ok_through = dict.fromkeys(servers, 0)
        self.rounds = self.late = 0
        self._lock = threading.Lock()
        self._started, self._ended = time.monotonic(), 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)
        self._ended = time.monotonic()

    def counts(self) -> str:
        took = (self._ended or time.monotonic()) - self._started
        return (
            f"sampled {self.rounds} rounds in {took:.0f}s (one every {took / max(self.rounds, 1):.2f}s, "
            f"{self.late} late): ok {self.ok_through}, unavailable {self.unavailable}, FAILED {len(self.failed)}"
        )

    def _kubectl(self, server: str, args: str) -> tuple[bool, str, str]:
        kubectl = f"kubectl --kubeconfig /etc/kubernetes/admin.conf --server https://{server}:6443 --request-timeout=5s"
        try:
            proc = self.lab.shell.run("cp1", f"{kubectl} {args}", check=False, timeout=30)
        except subprocess.TimeoutExpired:
            return False, "", "timeout"
        return proc.returncode == 0, str(proc.stdout), str(proc.stderr)

    def _run(self) -> None:
        while not self._stop.is_set():
            round_ = self.rounds
            self.rounds += 1
            name, writer = f"sample-{round_}", self.servers[round_ % len(self.servers)]
            written, _, _ = self._kubectl(writer, f"create secret generic {name} --from-literal=value=v{round_}")
            reads = {**self.known, **({name: f"v{round_}"} if written else {})}
            threads = [
                threading.Thread(target=self._read, args=(server, reads, name, writer)) for server in self.servers
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            wait = self._started + self.rounds * self.PERIOD - time.monotonic()
            if wait < 0:
                self.late += 1
            self._stop.wait(max(wait, 0))

    def _read(self, server: str, reads: dict[str, str], new: str, writer: str) -> None:
        _ok, out, err = self._kubectl(server, f"get secret {' '.join(reads)} -o json")
        got = secret_values(out)
        decryption = any(word in err.lower() for word in DECRYPTION_ERRORS)
        with self._lock:
            for secret, value in reads.items():
                origin = f"written via {writer}" if secret == new else "known"
                if secret in got and decoded(got[secret]) == value:
                    self.ok_through[server] += 1
                elif secret in got or decryption:
                    self.failed.append(
                        f"{secret} ({origin}) read via {server}: {err.strip()[-300:] or got.get(secret)}"
                    )
                else:
                    self.unavailable += 1


def kh(state: dict[str, Any], *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    proc = run_cli(*args, check=check)
    state["outputs"].append(f"$ kubeharden {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
    return proc


def harden(lab: Lab, state: dict[str, Any], out: Path) -> tuple[int, dict[str, Any], str]:
    proc = kh(state, "harden", str(lab.dir / "inventory.py"), "--summary-json", str(out))
    state["files"].append(out)
    summary = json.loads(out.read_text()) if out.exists() else {}
    return proc.returncode, summary, proc.stderr + proc.stdout


def test_a_secret_made_before_hardening_is_stored_plain(lab: Lab) -> None:
    lab.kubectl("cp1", f"create secret generic before --from-literal=value={SECRETS['before']}")
    assert raw_prefix(lab, "before") == "unencrypted"


def first_provider(lab: Lab, host: str) -> str:
    """The type of the first provider in the host's file ("none" without a file): identity on a readers file."""
    text = lab.sh(host, f"cat {CONFIG} 2>/dev/null || true")
    return next(iter(yaml.safe_load(text)["resources"][0]["providers"][0])) if text.strip() else "none"


def test_harden_killed_mid_enablement_then_run_again_enables_encryption_with_every_read_answered(
    lab: Lab, tmp_path: Path, state: dict[str, Any]
) -> None:
    """The first enablement is killed once cp1 encrypts with the new key and cp2 still has the readers file (its
    riskiest moment: cp1 writes what only a reader can read); the re-run continues from the hosts' files. Sampled
    through both apiservers from before the kill to the end of the re-run."""
    servers = [lab.record.spec.host(h).address for h in control_planes(lab)]
    sampler = Sampler(lab, servers, known={"before": SECRETS["before"]})
    sampler.start()
    started = time.monotonic()
    try:
        killed = subprocess.Popen(
            [*KUBEHARDEN, "harden", str(lab.dir / "inventory.py")],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        try:
            wait_for("cp1 to encrypt with the new key", lambda: first_provider(lab, "cp1") == "secretbox", 900, 0.5)
        finally:
            os.killpg(killed.pid, signal.SIGKILL)
            stdout, stderr = killed.communicate(timeout=60)
        state["outputs"].append(f"$ kubeharden harden (killed)\n{stdout}\n{stderr}")
        at_kill = {host: first_provider(lab, host) for host in control_planes(lab)}
        state["keys"].update(secret for _, secret in file_keys(lab, "cp1"))
        code, summary, output = harden(lab, state, tmp_path / "summary.json")
    finally:
        sampler.stop()
    print(f"harden took {time.monotonic() - started:.0f}s; rewritten: {summary.get('rewritten')}; {sampler.counts()}")
    print(f"files when killed: {at_kill}")
    assert code == 0, output[-6000:]
    assert set(at_kill.values()) == {"secretbox", "identity"}, at_kill
    assert "second pass" in stderr, stderr[-3000:]  # the killed run finished the readers pass
    assert [p["encryption_stage"] for p in summary.get("passes", [summary])][-1] == "final", summary
    assert not sampler.failed, sampler.failed[:5]
    assert all(sampler.ok_through[server] > 0 for server in sampler.servers), sampler.counts()
    assert summary["rewritten"]["secrets"] >= 1, summary
    assert "secrets rewritten" in output
    hashes = {host: file_sha(lab, host) for host in control_planes(lab)}
    assert len(set(hashes.values())) == 1 and "" not in hashes.values(), hashes
    for host in control_planes(lab):
        assert lab.sh(host, f"stat -c '%a %U:%G' {CONFIG}").strip() == "600 root:root"
        assert lab.sh(host, f"stat -c '%a' {Path(CONFIG).parent}").strip() == "700"
    keys = file_keys(lab, "cp1")
    assert len(keys) == 1 and len(base64.b64decode(keys[0][1])) == 32
    state["keys"].update(secret for _, secret in keys)
    state["key_name"], state["hashes"] = keys[0][0], hashes


def test_secrets_before_and_after_are_stored_encrypted_and_read_back(lab: Lab, state: dict[str, Any]) -> None:
    lab.kubectl("cp1", f"create secret generic after --from-literal=value={SECRETS['after']}")
    expected = f"k8s:enc:secretbox:v1:{state['key_name']}:"
    for name, value in SECRETS.items():
        assert raw_prefix(lab, name) == expected, name
        assert secret_value(lab, name) == value


def test_verify_proves_encryption(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    outputs = {kind: tmp_path / f"report.{kind}" for kind in ("json", "junit", "markdown")}
    args = [f"--{kind}={path}" for kind, path in outputs.items()]
    proc = kh(state, "verify", str(lab.dir / "inventory.py"), "-v", *args)
    state["files"] += list(outputs.values())
    assert proc.returncode in (0, 1), proc.stderr[-3000:]
    report = json.loads(outputs["json"].read_text())
    results = {(r["host"], r["control_id"]): r for r in report["results"]}
    for host in control_planes(lab):
        for control in ("1.2.27", "1.2.28", "KH-ENC-FILE", "KH-ENC-SAME", "KH-ENC-live"):
            assert results[(host, control)]["status"] == "PASS", results[(host, control)]
        volume = results[(host, "KH-ENC-VOLUME")]
        assert volume["status"] == "WARN" and "/var/lib/etcd" in volume["observed"], volume
    assert state["key_name"] in results[("cp1", "KH-ENC-live")]["observed"]


def test_a_second_harden_changes_nothing_and_keeps_the_key(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    code, summary, output = harden(lab, state, tmp_path / "again.json")
    assert code == 0, output[-4000:]
    assert summary["changed"] is False and summary["rewritten"] == {}, json.dumps(summary, indent=1)
    assert {host: file_sha(lab, host) for host in control_planes(lab)} == state["hashes"]


def test_pyinfra_at_its_highest_verbosity_changes_nothing_and_prints_no_key(lab: Lab, state: dict[str, Any]) -> None:
    """The pyinfra CLI path with -vvv (every command and its output): the key read back from the hosts is scanned
    for in this output by the leak test at the end."""
    pyinfra = str(Path(sys.executable).parent / "pyinfra")
    argv = [pyinfra, "-vvv", "-y", "--config", "deploys/config.py", str(lab.dir / "inventory.py"), "deploys/harden.py"]
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=900, check=False)
    state["outputs"].append(f"$ pyinfra -vvv\n{proc.stdout}\n{proc.stderr}")
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "Connecting to hosts" in proc.stdout + proc.stderr


def test_rotate_key_keeps_every_secret_readable(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    """Sampled through EVERY apiserver: the Secrets written before (under the old key) and a new one each round."""
    sampler = Sampler(lab, [lab.record.spec.host(h).address for h in control_planes(lab)], known=SECRETS)
    sampler.start()
    summary_file = tmp_path / "rotate.json"
    started = time.monotonic()
    proc = subprocess.Popen(
        [*KUBEHARDEN, "rotate-key", str(lab.dir / "inventory.py"), "--summary-json", str(summary_file)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Rotation steps read key material from the file mid-rotation: collect every key the hosts ever hold.
    while proc.poll() is None:
        try:
            state["keys"].update(secret for _, secret in file_keys(lab, "cp2"))
        except Exception:
            pass
        time.sleep(2)
    stdout, stderr = proc.communicate(timeout=60)
    sampler.stop()
    took = time.monotonic() - started
    state["outputs"].append(f"$ kubeharden rotate-key\n{stdout}\n{stderr}")
    state["files"].append(summary_file)
    print(f"rotate-key took {took:.0f}s; {sampler.counts()}")
    assert proc.returncode == 0, stderr[-6000:]
    assert not sampler.failed, sampler.failed[:5]
    assert all(sampler.ok_through[server] > 0 for server in sampler.servers), sampler.counts()
    report = json.loads(summary_file.read_text())
    assert [s["step"] for s in report["steps"]] == ["add", "promote", "rewrite", "retire"] and report["ok"]
    assert report["steps"][2]["rewritten"]["secrets"] >= 2
    keys = {host: file_keys(lab, host) for host in control_planes(lab)}
    names = {host: [name for name, _ in found] for host, found in keys.items()}
    new = names["cp1"][0]
    assert new != state["key_name"]
    assert all(found == [new] for found in names.values()), names
    state["keys"].update(secret for found in keys.values() for _, secret in found)
    for name, value in SECRETS.items():
        assert raw_prefix(lab, name) == f"k8s:enc:secretbox:v1:{new}:", name
        assert secret_value(lab, name) == value
    state["key_name"] = new


def test_a_rotation_killed_mid_way_continues_when_run_again(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    """rotate-key killed right after the first control plane got the new file (cp1 and cp2 differ): the re-run
    reads what the files show and finishes that rotation; no Secret is lost."""
    before = file_sha(lab, "cp1")
    proc = subprocess.Popen(
        [*KUBEHARDEN, "rotate-key", str(lab.dir / "inventory.py")],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        wait_for("cp1 to get the rotation's first file", lambda: file_sha(lab, "cp1") != before, 300, 0.5)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=60)
    state["outputs"].append(f"$ kubeharden rotate-key (killed)\n{stdout}\n{stderr}")
    state["keys"].update(secret for _, secret in file_keys(lab, "cp1"))
    assert file_sha(lab, "cp1") != file_sha(lab, "cp2")
    again = kh(state, "rotate-key", str(lab.dir / "inventory.py"))
    assert again.returncode == 0, again.stderr[-6000:]
    assert "continuing it" in again.stderr, again.stderr[-3000:]
    keys = {host: file_keys(lab, host) for host in control_planes(lab)}
    state["keys"].update(secret for found in keys.values() for _, secret in found)
    assert len({file_sha(lab, host) for host in control_planes(lab)}) == 1
    assert all(len(found) == 1 for found in keys.values()), {h: [n for n, _ in f] for h, f in keys.items()}
    for name, value in SECRETS.items():
        assert secret_value(lab, name) == value


def test_a_failing_rotation_stops_puts_the_previous_file_back_and_keeps_secrets(
    lab: Lab, tmp_path: Path, state: dict[str, Any]
) -> None:
    """kube-apiserver cannot start with the profile (as in the crash drill): step 1 fails on cp1 and is restored by
    the health gate, the rotation stops there, and every control plane has the file it had before."""
    drill = tmp_path / "drill"
    (drill / "group_data").mkdir(parents=True)
    shutil.copy(lab.dir / "inventory.py", drill / "inventory.py")
    (drill / "group_data" / "control_plane.py").write_text(
        'kubeharden_apiserver_extra_args = {"--event-ttl": "forever"}\nkubeharden_health_timeout = 30\n'
    )
    before = {host: file_sha(lab, host) for host in control_planes(lab)}
    summary_file = tmp_path / "failed-rotation.json"
    proc = subprocess.Popen(
        [*KUBEHARDEN, "rotate-key", str(drill / "inventory.py"), "--summary-json", str(summary_file)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while proc.poll() is None:  # the step's new key is on cp1 for a while: the leak test searches for it too
        try:
            state["keys"].update(secret for _, secret in file_keys(lab, "cp1"))
        except Exception:
            pass
        time.sleep(2)
    stdout, stderr = proc.communicate(timeout=60)
    state["outputs"].append(f"$ kubeharden rotate-key (failing)\n{stdout}\n{stderr}")
    state["files"].append(summary_file)
    assert proc.returncode == 1, stderr[-4000:]
    assert "rotation stopped at step 1 (add) on cp1" in stderr, stderr[-4000:]
    assert "the previous step's file is back on every control plane" in stderr, stderr[-4000:]
    report = json.loads(summary_file.read_text())
    assert report["ok"] is False and report["rolled_back"]["failed_host"] == "cp1"  # the same cause, file restored
    assert {host: file_sha(lab, host) for host in control_planes(lab)} == before
    wait_for("cp1 ready again", lambda: lab.kubectl("cp1", "get --raw /readyz").strip() == "ok", timeout=120)
    for name, value in SECRETS.items():
        assert secret_value(lab, name) == value


def test_mismatching_files_stop_harden_and_change_nothing(lab: Lab, tmp_path: Path, state: dict[str, Any]) -> None:
    lab.sh("cp2", f"cp -p {CONFIG} {CONFIG}.before-hand-edit && echo '# edited by hand' >> {CONFIG}")
    try:
        watched = {
            host: lab.sh(host, f"sha256sum {CONFIG} /etc/kubernetes/manifests/*.yaml") for host in control_planes(lab)
        }
        code, _summary, output = harden(lab, state, tmp_path / "mismatch.json")
        assert code != 0
        assert "different EncryptionConfiguration files" in output and "changed nothing" in output, output[-3000:]
        assert "cp1 sha256" in output and "cp2 sha256" in output
        after = {
            host: lab.sh(host, f"sha256sum {CONFIG} /etc/kubernetes/manifests/*.yaml") for host in control_planes(lab)
        }
        assert after == watched
    finally:
        lab.sh("cp2", f"cat {CONFIG}.before-hand-edit > {CONFIG} && rm {CONFIG}.before-hand-edit")
    assert len({file_sha(lab, host) for host in control_planes(lab)}) == 1


def test_the_key_appears_in_no_output_log_report_or_readable_backup(lab: Lab, state: dict[str, Any]) -> None:
    keys = sorted(state["keys"])
    assert len(keys) >= 2  # the first key and the rotated one
    texts = list(state["outputs"]) + [path.read_text() for path in state["files"] if path.exists()]
    assert len(texts) >= 8
    for key in keys:
        raw = base64.b64decode(key)
        for text in texts:
            assert key not in text
            assert raw.hex() not in text
    found = []
    for host in control_planes(lab):
        # anything kubeharden left on the host other than the live file itself
        for key in keys:
            hits = lab.sh(
                host,
                f"grep -rlF {shlex.quote(key)} /var/backups/kubeharden /var/lib/kubeharden /var/log /tmp /root "
                f"/etc/kubernetes/manifests 2>/dev/null || true",
            ).split()
            found += [f"{host}:{path}" for path in hits]
        readable = lab.sh(host, f"find {Path(CONFIG).parent} -perm /o+rwx,g+rwx").split()
        assert readable == [], readable
    assert found == [], found
    assert hashlib.sha256(b"").hexdigest() not in state["hashes"].values()


def test_every_control_plane_is_healthy_at_the_end(lab: Lab) -> None:
    for host in control_planes(lab):
        address = lab.record.spec.host(host).address
        wait_for(
            f"{host} /readyz",
            lambda a=address: lab.kubectl("cp1", f"--server https://{a}:6443 get --raw /readyz").strip() == "ok",
            timeout=60,
        )
