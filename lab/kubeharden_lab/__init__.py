"""kubeharden's lab: real kubeadm clusters in systemd-nspawn hosts on this machine, for tests and rehearsals.

Test infrastructure, not part of the product: it imports nothing from ``kubeharden`` (an oracle must not share
code with what it tests) and ships in its own distribution (lab/pyproject.toml), never in the product wheel.
"""
