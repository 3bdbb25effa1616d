"""pyinfra config for kubeharden's deploys: ``pyinfra --config deploys/config.py INVENTORY deploys/harden.py``.

pyinfra runs this file before it loads the inventory and connects. It makes pyinfra validate the whole inventory
(every kubeharden_ and ssh_ key, misspelt ones included) and force strict host-key checking on every host BEFORE the
first connection: bad input exits 2 and no host is contacted. Without it, pyinfra connects first, with its default
host-key policy (accept-new), and the deploy can only refuse afterwards.
"""

from kubeharden.faces.deploy import guard_pyinfra_cli

guard_pyinfra_cli()
