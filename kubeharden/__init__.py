"""kubeharden: harden the hosts of kubeadm-built Kubernetes clusters with pyinfra, and prove it.

The package shows its floors: ``kubeharden.core`` is pure logic (catalog, profile, planner, judge, version rules,
manifest model), ``kubeharden.host`` touches hosts (pyinfra facts and operations, the on-host programs, SSH,
probes), ``kubeharden.faces`` is what people run (the CLI, the deploys, the reports). Nothing on a lower floor
imports from a higher one.
"""

__version__ = "0.2.0"
"""The one place the version is written (pyproject.toml reads it from here)."""
