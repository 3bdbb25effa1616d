"""The verification suite: every control of the catalog that applies to a host, one testcase each.

Run it against any pyinfra inventory: `pytest tests/verify --inventory inventory.py --junitxml verify.xml`.
FAIL fails the testcase with the observed value, the expected value and the remediation; WARN passes with a
warning; SKIP (waived, or not applicable on this host) says why. conftest.py collects each host once.
"""

from __future__ import annotations

import warnings

import pytest

from kubeharden.core.results import Status

from .conftest import VerifySession


class KubehardenWarning(UserWarning):
    """A control that warns: unscored and failing, or a check that could not decide."""


def test_control(kh_case: tuple[str, str], kh_session: VerifySession) -> None:
    host, control_id = kh_case
    try:
        result = kh_session.judge(host, control_id)
    except RuntimeError as exc:  # CollectionError: the host could not be checked
        pytest.fail(f"could not check {host}: {exc}", pytrace=False)
    details = f"observed: {result.observed or '-'}\nexpected: {result.expected}\nremediation: {result.remediation}"
    if result.reason:
        details += f"\nreason: {result.reason}"
    if result.status is Status.SKIP:
        pytest.skip(result.reason)
    if result.status is Status.FAIL:
        pytest.fail(f"{host} {control_id} {result.title}\n{details}", pytrace=False)
    if result.status is Status.WARN:
        warnings.warn(KubehardenWarning(f"{host} {control_id} WARN {result.title}\n{details}"), stacklevel=1)
