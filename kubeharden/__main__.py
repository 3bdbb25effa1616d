"""`python -m kubeharden`: the command line."""

from kubeharden.faces.cli import main

main()
