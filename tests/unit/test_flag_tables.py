"""The flag tables read from the real binaries' --help: their parser, their content, and their use.

tests/lab/test_flag_tables_lab.py checks the stored table of the lab's version against its binaries.
"""

from __future__ import annotations

import pytest
from kubeharden_lab.flag_tables import parse_help

from kubeharden.core import flag_tables
from kubeharden.core.catalog import for_component
from kubeharden.core.planning import plan_component
from kubeharden.core.profile import DEFAULTS
from kubeharden.core.profile_checks import check_extra_args

PFLAG_HELP = """Usage:
  kube-scheduler [flags]

Secure serving flags:

      --bind-address ip                        The IP address on which to listen for the --secure-port port.
      --cert-dir string                        The directory where the TLS certs are located.
  -v, --v Level                                number for the log level verbosity
      --vmodule pattern=N,...                  comma-separated list of pattern=N settings
"""

ETCD_HELP = """Usage:

  etcd [flags]
    Start an etcd server.

Member:
  --name 'default'
    Human-readable name for this member.
  --data-dir '${name}.etcd'
    Path to the data directory.
"""


def test_pflag_and_etcd_help_are_parsed_into_flag_names() -> None:
    assert parse_help(PFLAG_HELP) == ["--bind-address", "--cert-dir", "--v", "--vmodule"]
    assert parse_help(ETCD_HELP) == ["--data-dir", "--name"]


def test_the_tables_cover_the_lab_version_of_every_component() -> None:
    assert "1.34" in flag_tables.table_versions("kube-apiserver")
    assert "3.6" in flag_tables.table_versions("etcd")
    apiserver = flag_tables.known_flags("kube-apiserver", (1, 34, 4))
    assert apiserver is not None and "--encryption-provider-config" in apiserver and "--insecure-port" not in apiserver
    assert flag_tables.known_flags("kube-apiserver", (1, 20, 0)) is None


def test_each_served_minor_has_its_own_table_and_a_newer_flag_is_unknown_to_an_older_minor() -> None:
    assert {"1.30", "1.32", "1.33", "1.34"} <= set(flag_tables.table_versions("kube-apiserver"))
    assert {"3.5", "3.6"} <= set(flag_tables.table_versions("etcd"))
    old, new = (
        flag_tables.known_flags("kube-apiserver", (1, 30, 2)),
        flag_tables.known_flags("kube-apiserver", (1, 34, 0)),
    )
    assert old is not None and new is not None
    assert "--service-account-signing-endpoint" in new and "--service-account-signing-endpoint" not in old
    problems = flag_tables.unknown_new_flags("kube-apiserver", (1, 30, 2), [], ["--service-account-signing-endpoint"])
    assert problems and "kube-apiserver 1.30.2 has no flag --service-account-signing-endpoint" in problems[0]
    assert flag_tables.known_flags("kube-apiserver", (1, 31, 0)) is None  # 1.31: no table (not buildable here)


def test_a_minor_keeps_the_table_of_its_newest_patch() -> None:
    from kubeharden_lab.flag_tables import merge

    def entry(source: str, flags: list[str]) -> dict[str, object]:
        return {"source": source, "flags": {"etcd": flags}}

    kube = {"source": "v1.34.4", "flags": {}}
    document: dict[str, object] = {}
    merge(document, "v1.34.4", kube, entry("v3.5.21", ["--a", "--b"]))
    merge(document, "v1.30.14", {"source": "v1.30.14", "flags": {}}, entry("v3.5.15", ["--a"]))
    assert document["etcd"] == {"3.5": entry("v3.5.21", ["--a", "--b"])}
    merge(document, "v1.34.9", {"source": "v1.34.9", "flags": {}}, entry("v3.5.24", ["--a", "--b", "--c"]))
    assert document["etcd"]["3.5"]["source"] == "v3.5.24"  # type: ignore[index]
    assert document["kubernetes"]["1.34"]["source"] == "v1.34.9"  # type: ignore[index]


@pytest.mark.parametrize("component", ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "etcd"])
def test_every_flag_the_catalog_tests_exists_in_the_newest_table(component: str) -> None:
    newest = flag_tables.table_versions(component)[-1]
    major, minor = (int(p) for p in newest.split("."))
    known = flag_tables.known_flags(component, (major, minor, 0))
    assert known is not None
    removed = {"--insecure-port", "--insecure-bind-address", "--address", "--port"}
    tested = {t.flag for c in for_component(component) for t in c.flag_tests} - removed
    assert tested and tested <= known, sorted(tested - known)


def test_an_extra_flag_no_version_has_is_refused_before_any_host_is_contacted() -> None:
    profile = {**DEFAULTS, "kubeharden_apiserver_extra_args": {"--no-such-flag": "1", "--event-ttl": "2h"}}
    problems = check_extra_args(profile, "host cp1")
    assert len(problems) == 1 and "--no-such-flag" in problems[0] and "unknown flag" in problems[0]


def test_a_flag_the_running_manifest_has_is_trusted_and_a_new_unknown_one_is_a_plan_problem(
    apiserver_134: str,
) -> None:
    hidden = apiserver_134.replace("- kube-apiserver\n", "- kube-apiserver\n    - --hidden-deprecated-flag=1\n", 1)
    plan = plan_component(hidden, DEFAULTS, manifest_path="/etc/kubernetes/manifests/kube-apiserver.yaml")
    assert not [p for p in plan.problems if "hidden-deprecated-flag" in p], plan.problems
    assert flag_tables.unknown_new_flags("kube-apiserver", (1, 34, 4), ["--a"], ["--a", "--zzz-new"]) == [
        "kube-apiserver 1.34.4 has no flag --zzz-new (its --help, from the v1.34.4 binary, does not list it): the "
        "component would exit at start with 'unknown flag'; remove --zzz-new"
    ]


@pytest.fixture
def apiserver_134() -> str:
    from pathlib import Path

    data = Path(__file__).parents[1] / "data" / "kubeadm"
    found = [p for p in sorted(data.rglob("kube-apiserver*.yaml")) if "v1.34" in p.read_text()]
    assert found
    return found[0].read_text()


def test_a_second_container_in_a_static_pod_is_named_not_silently_left_alone(apiserver_134: str) -> None:
    import yaml

    doc = yaml.safe_load(apiserver_134)
    doc["spec"]["containers"].append({"name": "log-shipper", "image": "example/shipper:1", "command": ["ship"]})
    plan = plan_component(yaml.safe_dump(doc), DEFAULTS, manifest_path="/etc/kubernetes/manifests/kube-apiserver.yaml")
    assert any("log-shipper" in note and "leaves them as they are" in note for note in plan.notes), plan.notes
