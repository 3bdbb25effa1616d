"""The catalog is well formed; every planner-applied control has its registered planner and every registered planner
its control; the docs' tables are generated from the catalog and the profile's schema."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeharden.core.catalog import (
    CATALOG_VERSION,
    CONTROLS,
    by_id,
    catalog_digest,
    coverage_markdown,
    validate_catalog,
)
from kubeharden.core.catalog.benchmark import CHECKS
from kubeharden.core.catalog.benchmark import markdown as benchmark_markdown
from kubeharden.core.planning import PLANNERS
from kubeharden.core.profile import KNOBS, settings_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _between(text: str, begin: str, end: str) -> str:
    return text[text.index(begin) + len(begin) : text.index(end)]


def test_catalog_is_well_formed() -> None:
    assert validate_catalog() == []
    assert len({c.id for c in CONTROLS}) == len(CONTROLS)
    assert CATALOG_VERSION and len(catalog_digest()) == 12


def test_planner_controls_and_registered_planners_match() -> None:
    planned = {c.id for c in CONTROLS if c.applied_by == "planner"}
    assert planned == set(PLANNERS), "a planner-applied control lacks its planner, or a planner its control"
    for control_id in PLANNERS:
        assert control_id in by_id()


def test_every_profile_key_a_control_reads_exists() -> None:
    from kubeharden.core.catalog import profile_feeds

    assert set(profile_feeds()) <= set(KNOBS)


@pytest.mark.parametrize(
    ("page", "begin", "end", "render", "how"),
    [
        ("controls.md", "<!-- coverage:begin -->\n", "<!-- coverage:end -->", coverage_markdown,
         "python -m kubeharden.core.catalog"),
        ("profile.md", "<!-- settings:begin -->\n", "<!-- settings:end -->", settings_markdown,
         "python -c 'from kubeharden.core.profile import settings_markdown; print(settings_markdown())'"),
        ("controls.md", "<!-- benchmark:begin -->\n", "<!-- benchmark:end -->", benchmark_markdown,
         "python -c 'from kubeharden.core.catalog.benchmark import markdown; print(markdown())'"),
    ],
)  # fmt: skip
def test_docs_tables_match_the_catalog_and_schema(page: str, begin: str, end: str, render: object, how: str) -> None:
    text = (DOCS / page).read_text()
    assert _between(text, begin, end) == render(), f"regenerate docs/{page} with: {how}"  # type: ignore[operator]


def test_every_automated_kube_bench_check_has_a_control_or_a_reason() -> None:
    ids = set(by_id())
    assert len(CHECKS) == len({c.id for c in CHECKS}) >= 95  # sections 1-4 of cis-1.12: 97 checks
    for check in CHECKS:
        assert set(check.controls) <= ids, (check.id, set(check.controls) - ids)
        if check.automated:
            assert check.controls or len(check.reason) > 30, check.id
    cis_controls = {c.id for c in by_id().values() if c.cis and not c.id.endswith(("-live", "s"))}
    covered = {cid for check in CHECKS for cid in check.controls}
    assert cis_controls <= covered, cis_controls - covered
