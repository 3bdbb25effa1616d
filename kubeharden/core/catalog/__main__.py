"""`python -m kubeharden.core.catalog`: print the coverage table (docs/controls.md keeps a copy, checked by a test)."""

from kubeharden.core.catalog import coverage_markdown

print(coverage_markdown(), end="")
