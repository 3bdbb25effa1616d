"""Planners registered by control ID: the few controls whose fix is more than one flag edit per test (writing an
AuthenticationConfiguration, an AdmissionConfiguration, the audit policy, the EncryptionConfiguration, moving the
probes with a listener). One planner may serve several controls (admission: 1.2.9 and KH-API-PSA); it is called
once per component with the controls it serves that are active (not waived, selected, asked for by the profile).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubeharden.core.catalog.model import Control
from kubeharden.core.planning.editor import PodEditor

Planner = Callable[[PodEditor, Mapping[str, Control]], None]

PLANNERS: dict[str, Planner] = {}
"""Control ID -> the planner that applies it."""


def planner(*control_ids: str) -> Callable[[Planner], Planner]:
    """Register ``fn`` as the planner of these controls (their catalog entries say ``applied_by="planner"``)."""

    def register(fn: Planner) -> Planner:
        for control_id in control_ids:
            if control_id in PLANNERS:
                raise ValueError(f"control {control_id} already has a planner ({PLANNERS[control_id].__name__})")
            PLANNERS[control_id] = fn
        return fn

    return register


def served_by(fn: Planner) -> list[str]:
    return [cid for cid, registered in PLANNERS.items() if registered is fn]
