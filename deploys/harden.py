"""pyinfra entry point: harden every host of the inventory by its role.

    pyinfra INVENTORY deploys/harden.py --serial

`--serial` applies one host at a time, as `kubeharden harden` does, but in pyinfra's own host order (a set, not
the inventory's order); `kubeharden harden` and `kubeharden rotate-key` go strictly in inventory order, which the
secrets rewrite on the last control plane relies on. Without `--serial` every static pod manifest is
still applied one control-plane node at a time, and the first failure stops the rollout. The profile comes from
the inventory's group_data (see inventories/group_data/all.py); defaults are documented in
kubeharden/profile.py. The pyinfra CLI connects before this file runs: invalid profiles still stop the run
before any host is changed, while `kubeharden harden` also refuses them before connecting.
"""

from kubeharden.deploy import harden

harden()
