"""Hardening profile for every host: override kubeharden's documented defaults here (docs/profile.md,
kubeharden/core/profile.py).

Everything not set here keeps its default. Switching a control off takes a waiver with a written reason;
waivers appear in every report. Examples (uncomment to use):
"""

# The firewall (nftables, every host) lets SSH in only from these addresses: where you run kubeharden from.
kubeharden_firewall_admin_cidrs = ["192.0.2.10/32"]
# kubeharden_firewall_cni = "calico"  # or cilium, flannel: opens the CNI's data-plane ports between nodes

# kubeharden_tls_min_version = "1.3"
# kubeharden_pod_security_enforce = "restricted"
# kubeharden_audit_log_maxage = 90
# kubeharden_waivers = {
#     "1.2.5": "kubelets serve self-signed certificates until serverTLSBootstrap is rolled out (TICKET-123)",
# }
