"""`python -m kubeharden_lab`: the lab's command line (also reached as `kubeharden lab`)."""

from kubeharden_lab.cli import main

main()
