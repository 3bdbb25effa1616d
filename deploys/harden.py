"""pyinfra entry point: harden every host of the inventory by its role.

    pyinfra INVENTORY deploys/harden.py

The inventory pyinfra loaded is validated once (misspelt kubeharden_ keys included), every host is collected once and
the whole run planned before any operation is added; a plan with a problem stops the run before any host changes.
Every static pod manifest is applied one control-plane node at a time, and the first failure stops the rollout.
`kubeharden harden INVENTORY` does the same and also goes strictly in inventory order (pyinfra's CLI uses its own
host order). The profile comes from the inventory's group_data (docs/profile.md).
"""

from kubeharden.faces.deploy import harden

harden()
