"""The hardening planner: from a control-plane static pod manifest, the profile and the catalog to the hardened
manifest, the files it needs and the same settings for kubeadm's ClusterConfiguration. Pure logic.

How a control is applied is the catalog's business (``Control.applied_by``): ``tests`` controls by the generic fix
of each test (kubeharden.core.planning.generic), ``planner`` controls by the function registered for their ID
(kubeharden.core.planning.registry; apiserver.py and components.py hold them). Every plan judges itself with the
real judge (check.py) before anyone writes it.
"""

from kubeharden.core.planning.cluster_config import plan_cluster_configuration
from kubeharden.core.planning.engine import COMPONENT_AREAS, CONFIG_ANNOTATION, plan_component, render_manifest
from kubeharden.core.planning.plan import Change, ComponentPlan, PlannedFile, PlannedVolume, Setting
from kubeharden.core.planning.registry import PLANNERS
from kubeharden.core.templates import render_template

__all__ = [
    "COMPONENT_AREAS",
    "CONFIG_ANNOTATION",
    "PLANNERS",
    "Change",
    "ComponentPlan",
    "PlannedFile",
    "PlannedVolume",
    "Setting",
    "plan_cluster_configuration",
    "plan_component",
    "render_manifest",
    "render_template",
]
