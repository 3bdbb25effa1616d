"""Example pyinfra inventory for bare-metal kubeadm nodes (copy it and fill in your hosts).

Groups are what kubeharden keys its roles on: `control_plane` and `workers`. Host keys must already be in the
known_hosts file you name: kubeharden connects with strict host-key checking, like any production access.
"""

_ssh = {
    "ssh_user": "root",
    "ssh_key": "~/.ssh/id_ed25519",
    "ssh_known_hosts_file": "~/.ssh/known_hosts",
    "ssh_strict_host_key_checking": "yes",
}

control_plane = [
    ("cp1.example.internal", {"ssh_hostname": "192.0.2.11", "node_ip": "192.0.2.11", **_ssh}),
]

workers = [
    ("w1.example.internal", {"ssh_hostname": "192.0.2.31", "node_ip": "192.0.2.31", **_ssh}),
    ("w2.example.internal", {"ssh_hostname": "192.0.2.32", "node_ip": "192.0.2.32", **_ssh}),
]
