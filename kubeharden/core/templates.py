"""kubeharden's templates (kubeharden/templates, paths mirroring the target paths on a node), rendered with every
undefined value an error. The YAML files kubeharden owns use the plain environment; the nftables file uses block
trimming. Pure logic: templates ship in the package, so an installed kubeharden finds them."""

from __future__ import annotations

from typing import Any

import jinja2
import yaml

AUDIT_POLICY = "etc/kubernetes/audit/policy.yaml.j2"
ADMISSION_CONFIG = "etc/kubernetes/admission/admission-config.yaml.j2"
AUTHENTICATION_CONFIG = "etc/kubernetes/authn/authentication-config.yaml.j2"
NFTABLES = "etc/nftables.d/kubeharden.nft.j2"

_YAML = jinja2.Environment(
    loader=jinja2.PackageLoader("kubeharden", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    autoescape=False,  # noqa: S701 -- YAML/nft text, never HTML
)
_TEXT = jinja2.Environment(
    loader=jinja2.PackageLoader("kubeharden", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # noqa: S701 -- YAML/nft text, never HTML
)


def render_template(name: str, **values: Any) -> str:
    """Render one of kubeharden's YAML templates; the result must be a YAML mapping."""
    text = _YAML.get_template(name).render(**values)
    document = yaml.safe_load(text)
    if not isinstance(document, dict):
        raise ValueError(f"template {name} did not render a YAML mapping; the template is broken")
    return text


def render_text(name: str, **values: Any) -> str:
    """Render a non-YAML template (the nftables file)."""
    return _TEXT.get_template(name).render(**values)
