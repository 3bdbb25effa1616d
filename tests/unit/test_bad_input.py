"""Bad profiles and inventories: each is a clear error naming the key, and no host is contacted.

The inventories point their hosts at a TCP listener on loopback that counts connections: `kubeharden harden`
must refuse the input before it opens one.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kubeharden.core.profile import ProfileError
from kubeharden.core.profile_checks import validate_inventory


class CountingListener:
    """A loopback TCP listener that counts the connections it gets (a would-be SSH server)."""

    def __init__(self, reply: bytes = b"") -> None:
        self.reply = reply
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            if self.reply:
                conn.sendall(self.reply)
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[CountingListener]:
    counting = CountingListener()
    yield counting
    counting.close()


GOOD_HOST = (
    '{"ssh_hostname": "127.0.0.1", "ssh_port": PORT, "ssh_strict_host_key_checking": "yes", '
    '"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}'
)

# (case id, inventory body (PORT is replaced), words the error must contain)
CASES = [
    ("unknown-key", 'control_plane = [("cp1", {**H, "kubeharden_tls_minimum": "1.2"})]', ["kubeharden_tls_minimum"]),
    ("tls-version", 'control_plane = [("cp1", {**H, "kubeharden_tls_min_version": "1.1"})]', ["tls_min_version"]),
    (
        "weak-cipher",
        'control_plane = [("cp1", {**H, "kubeharden_tls_cipher_suites": ["TLS_RSA_WITH_RC4_128_SHA"]})]',
        ["cipher", "RC4"],
    ),
    ("relative-path", 'control_plane = [("cp1", {**H, "kubeharden_audit_log_path": "audit.log"})]', ["audit_log_path"]),
    (
        "dotdot-path",
        'control_plane = [("cp1", {**H, "kubeharden_audit_policy_file": "/etc/../tmp/p.yaml"})]',
        ["audit_policy_file"],
    ),
    ("maxage-low", 'control_plane = [("cp1", {**H, "kubeharden_audit_log_maxage": 7})]', ["audit_log_maxage", "30"]),
    ("maxsize-type", 'control_plane = [("cp1", {**H, "kubeharden_audit_log_maxsize": "100"})]', ["audit_log_maxsize"]),
    (
        "bool-type",
        'control_plane = [("cp1", {**H, "kubeharden_etcd_enabled": "no"})]',
        ["etcd_enabled", "true or false"],
    ),
    (
        "area-off-no-waiver",
        'control_plane = [("cp1", {**H, "kubeharden_etcd_enabled": False})]',
        ["kubeharden_etcd_enabled", "waiver"],
    ),
    (
        "waiver-no-reason",
        'control_plane = [("cp1", {**H, "kubeharden_waivers": {"1.2.15": ""}})]',
        ["1.2.15", "reason"],
    ),
    (
        "waiver-unknown",
        'control_plane = [("cp1", {**H, "kubeharden_waivers": {"9.9.9": "a good long reason"}})]',
        ["9.9.9"],
    ),
    (
        "psa-level",
        'control_plane = [("cp1", {**H, "kubeharden_pod_security_enforce": "strict"})]',
        ["pod_security_enforce"],
    ),
    ("secure-port-zero", 'control_plane = [("cp1", {**H, "kubeharden_apiserver_secure_port": 0})]', ["secure_port"]),
    (
        "bind-address",
        'control_plane = [("cp1", {**H, "kubeharden_apiserver_bind_address": "everywhere"})]',
        ["bind_address"],
    ),
    (
        "backup-in-manifests",
        'control_plane = [("cp1", {**H, "kubeharden_backup_dir": "/etc/kubernetes/manifests/bak"})]',
        ["backup_dir", "outside"],
    ),
    (
        "always-admit",
        'control_plane = [("cp1", {**H, "kubeharden_admission_plugins": ["AlwaysAdmit"]})]',
        ["AlwaysAdmit"],
    ),
    (
        "encryption-provider",
        'control_plane = [("cp1", {**H, "kubeharden_encryption_provider": "identity"})]',
        ["kubeharden_encryption_provider", "secretbox"],
    ),
    (
        "encryption-resources",
        'control_plane = [("cp1", {**H, "kubeharden_encryption_resources": ["configmaps"]})]',
        ["kubeharden_encryption_resources", "secrets"],
    ),
    (
        "encryption-kms-endpoint",
        'control_plane = [("cp1", {**H, "kubeharden_encryption_provider": "kms", '
        '"kubeharden_encryption_kms_name": "k", "kubeharden_encryption_kms_endpoint": "tcp://kms:1"})]',
        ["kubeharden_encryption_kms_endpoint", "unix:///"],
    ),
    (
        "encryption-kms-name",
        'control_plane = [("cp1", {**H, "kubeharden_encryption_provider": "kms", '
        '"kubeharden_encryption_kms_endpoint": "unix:///run/kms.sock"})]',
        ["kubeharden_encryption_kms_name"],
    ),
    (
        "encryption-file-in-manifests",
        'control_plane = [("cp1", {**H, "kubeharden_encryption_config_file": "/etc/kubernetes/manifests/e.yaml"})]',
        ["kubeharden_encryption_config_file", "outside"],
    ),
    (
        "tofu-host-keys",
        'control_plane = [("cp1", {**H, "ssh_strict_host_key_checking": "accept-new"})]',
        ["strict", "accept-new"],
    ),
    ("no-control-plane", 'workers = [("w1", H)]', ["control_plane"]),
    ("no-role", 'control_plane = [("cp1", H)]\netcd_nodes = [("e1", H)]', ["e1", "neither"]),
    ("two-roles", 'control_plane = [("cp1", H)]\nworkers = ["cp1"]', ["both"]),
    ("bad-entry", "control_plane = [42]", ["42"]),
    ("syntax-error", "control_plane = [(", ["cannot be read"]),
    ("no-hosts", "x = 1", ["no hosts"]),
    (
        "firewall-bad-cidr",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_admin_cidrs": ["10.0.0.300/32"]})]',
        ["kubeharden_firewall_admin_cidrs", "10.0.0.300/32", "not an IP address or CIDR"],
    ),
    (
        "firewall-bad-lb",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_load_balancers": ["lb.example"]})]',
        ["kubeharden_firewall_load_balancers", "lb.example"],
    ),
    (
        "firewall-unknown-cni",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_cni": "weave"})]',
        ["kubeharden_firewall_cni", "weave", "calico"],
    ),
    (
        "firewall-port-range",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_custom_rules": ["tcp 70000 from nodes"]})]',
        ["kubeharden_firewall_custom_rules", "70000", "out of range"],
    ),
    (
        "firewall-nodeport-range",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_nodeport_range": "30000-0"})]',
        ["kubeharden_firewall_nodeport_range", "out of range"],
    ),
    (
        "firewall-ssh-port",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_ssh_port": 65536})]',
        ["kubeharden_firewall_ssh_port", "1-65535"],
    ),
    (
        "firewall-custom-rule-syntax",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_custom_rules": ["open everything"]})]',
        ["kubeharden_firewall_custom_rules", "open everything", "tcp or udp"],
    ),
    (
        "firewall-no-admin-cidrs",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_admin_cidrs": []})]',
        ["kubeharden_firewall_admin_cidrs is empty", "firewall is on"],
    ),
    (
        "firewall-confirm-timeout",
        'control_plane = [("cp1", {**H, "kubeharden_firewall_confirm_timeout": 5})]',
        ["kubeharden_firewall_confirm_timeout", "15-600"],
    ),
]


@pytest.mark.parametrize(("case", "body", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error_and_no_host_is_contacted(
    case: str, body: str, words: list[str], tmp_path: Path, listener: CountingListener
) -> None:
    inventory = tmp_path / "inventory.py"
    inventory.write_text(f"H = {GOOD_HOST.replace('PORT', str(listener.port))}\n" + textwrap.dedent(body) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "kubeharden", "harden", str(inventory)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 2, (case, proc.stdout, proc.stderr)
    for word in words:
        assert word in proc.stderr, (case, word, proc.stderr)
    assert "no host was contacted" in proc.stderr
    assert listener.connections == 0


ADMIN = {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]}


def test_a_good_profile_validates() -> None:
    profiles = validate_inventory(
        {
            "cp1": (
                ["control_plane"],
                {
                    "kubeharden_waivers": {"1.2.5": "kubelet serving certs not yet signed"},
                    "kubeharden_firewall_admin_cidrs": ["192.0.2.10/32", "2001:db8::/64"],
                },
            ),
            "w1": (["workers"], {"kubeharden_waivers": {"firewall": "hosts behind the provider's security groups"}}),
        }
    )
    assert profiles["cp1"].waived("1.2.5", "apiserver") == "kubelet serving certs not yet signed"
    assert profiles["cp1"].waived("1.2.15", "apiserver") is None


def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(ProfileError) as info:
        validate_inventory(
            {
                "cp1": (
                    ["control_plane"],
                    {"kubeharden_tls_min_version": "1.0", "kubeharden_audit_log_maxage": 1, **ADMIN},
                ),
                "cp2": (["control_plane"], {"kubeharden_backup_dir": "rel", **ADMIN}),
            }
        )
    text = str(info.value)
    assert "host cp1" in text and "host cp2" in text
    assert len(info.value.problems) == 3


def test_ssh_errors_are_cut_at_whole_lines_never_mid_word() -> None:
    from kubeharden.host.transport import last_lines

    stderr = "\n".join(f"line {i}: " + "word " * 20 for i in range(30)) + "\nHost key verification failed."
    said = last_lines(stderr, 300)
    assert said.endswith("Host key verification failed.")
    assert all(part.startswith("line ") or part.startswith("Host key") for part in said.split(" | "))
    assert len(said) <= 300 + 3 * said.count(" | ")
    assert last_lines("@@@@@@@@@@@\none\n\n") == "one"


def test_a_group_data_file_that_names_no_group_is_refused(tmp_path: Path) -> None:
    from kubeharden.faces.inventory_file import InventoryError, load_inventory

    (tmp_path / "group_data").mkdir()
    (tmp_path / "group_data" / "control-plane.py").write_text("kubeharden_audit_log_maxage = 90\n")
    (tmp_path / "inventory.py").write_text('control_plane = ["cp1"]\n')
    with pytest.raises(InventoryError, match=r"group_data/control-plane\.py names no group"):
        load_inventory(tmp_path / "inventory.py")
    (tmp_path / "group_data" / "control-plane.py").rename(tmp_path / "group_data" / "control_plane.py")
    assert load_inventory(tmp_path / "inventory.py")["cp1"].data["kubeharden_audit_log_maxage"] == 90


def test_the_pyinfra_cli_without_the_guard_refuses_an_inventory_that_does_not_ask_for_strict_keys() -> None:
    from kubeharden.core.profile_checks import validate_inventory

    hosts = {"cp1": (["control_plane"], {"kubeharden_firewall_admin_cidrs": ["192.0.2.10/32"]})}
    validate_inventory(hosts, strict_forced=True)
    with pytest.raises(ProfileError, match="accept-new"):
        validate_inventory(hosts, strict_forced=False)


NOT_SSH = b"HTTP/1.1 400 Bad Request\r\n\r\n"
"""What a service that is not SSH (an HTTP server on the SSH port) answers: paramiko fails reading the banner."""


@pytest.mark.parametrize(
    ("command", "code", "says"),
    [
        (["-m", "kubeharden", "harden", "--dry"], 2, "could not connect to: cp1"),
        (["-m", "kubeharden", "rotate-key"], 2, "could not connect to: cp1"),
        (["-m", "pyinfra", "-y", "--config", "deploys/config.py"], 1, "No hosts remaining"),
    ],
    ids=["harden", "rotate-key", "pyinfra-cli"],
)
def test_a_port_that_is_not_ssh_is_one_line_per_host_never_a_traceback(
    command: list[str], code: int, says: str, tmp_path: Path
) -> None:
    server = CountingListener(reply=NOT_SSH)
    try:
        inventory = tmp_path / "inventory.py"
        known = tmp_path / "known_hosts"
        known.write_text("")
        host = GOOD_HOST.replace("PORT", str(server.port)).rstrip("}") + f', "ssh_known_hosts_file": "{known}"}}'
        inventory.write_text(f'control_plane = [("cp1", {host})]\n')
        argv = [sys.executable, *command, str(inventory)]
        if command[1] == "pyinfra":
            argv.append("deploys/harden.py")
        repo = Path(__file__).resolve().parents[2]
        proc = subprocess.run(argv, cwd=repo, capture_output=True, text=True, timeout=120, check=False)
    finally:
        server.close()
    output = proc.stdout + proc.stderr
    assert server.connections >= 1  # it did try: this is the connection error, not a refused input
    assert proc.returncode == code, output
    assert "Traceback" not in output, output
    assert "[cp1] SSH error (Error reading SSH protocol banner" in output, output
    assert says in output, output
