"""The catalog is well formed, and the README's coverage table is generated from it."""

from __future__ import annotations

from pathlib import Path

from kubeharden.catalog import CONTROLS, coverage_markdown, validate_catalog

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- coverage:begin -->\n", "<!-- coverage:end -->"


def test_catalog_is_well_formed() -> None:
    assert validate_catalog() == []
    assert len({c.id for c in CONTROLS}) == len(CONTROLS)


def test_readme_coverage_table_matches_the_catalog() -> None:
    text = README.read_text()
    table = text[text.index(BEGIN) + len(BEGIN) : text.index(END)]
    assert table == coverage_markdown(), "regenerate it with: python -m kubeharden.catalog"
