"""Pure parts of the lab: layout, names, kubeadm documents, inventory, the Go build recipe."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import yaml
from kubeharden_lab.binaries import (
    BuildError,
    etcd_version_from_constants,
    lab_gomod,
    staging_modules,
    validate_k8s_version,
    version_ldflags,
)
from kubeharden_lab.config import LabConfigError, LabSpec, make_spec
from kubeharden_lab.inventory import render_inventory
from kubeharden_lab.kubeadm_config import init_configuration

GOMOD = """module k8s.io/kubernetes

go 1.24.0

require (
\tk8s.io/api v0.0.0
)

replace (
\tk8s.io/api => ./staging/src/k8s.io/api
\tk8s.io/apimachinery => ./staging/src/k8s.io/apimachinery
\tk8s.io/kms => ./staging/src/k8s.io/kms
\tgithub.com/foo/bar => github.com/foo/bar v1.0.0
)
"""


def test_layout_of_a_lab_with_three_control_planes_and_ten_hosts() -> None:
    spec = make_spec("kh", "10.231.7.0/24", "v1.34.4", 3, 7, weak=False)
    assert [h.name for h in spec.control_planes] == ["cp1", "cp2", "cp3"]
    assert [h.address for h in spec.control_planes] == ["10.231.7.11", "10.231.7.12", "10.231.7.13"]
    assert len(spec.hosts) == 10
    assert spec.gateway == "10.231.7.1"
    assert all(len(h.veth) <= 15 for h in spec.hosts)
    assert len({h.veth for h in spec.hosts}) == 10
    assert LabSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize(
    ("name", "cps", "workers", "subnet", "message"),
    [
        ("Bad", 1, 1, "10.231.0.0/24", "lab name"),
        ("toolongname", 1, 1, "10.231.0.0/24", "lab name"),
        ("kh", 0, 1, "10.231.0.0/24", "--control-planes"),
        ("kh", 10, 1, "10.231.0.0/24", "--control-planes"),
        ("kh", 1, -1, "10.231.0.0/24", "--workers"),
        ("kh", 1, 1, "192.168.1.0/24", "inside 10.231.0.0/16"),
    ],
)
def test_bad_lab_requests_are_clear_errors(name: str, cps: int, workers: int, subnet: str, message: str) -> None:
    with pytest.raises(LabConfigError, match=message):
        make_spec(name, subnet, "v1.34.4", cps, workers, weak=False)


def test_staging_modules_are_read_from_the_kubernetes_gomod() -> None:
    assert staging_modules(GOMOD) == ["k8s.io/api", "k8s.io/apimachinery", "k8s.io/kms"]
    gomod = lab_gomod("v1.34.4", staging_modules(GOMOD), "1.24.0")
    assert "require k8s.io/kubernetes v1.34.4" in gomod
    assert "\tk8s.io/kms => k8s.io/kms v0.34.4" in gomod
    assert "github.com/foo/bar" not in gomod


def test_version_stamp_and_etcd_version() -> None:
    flags = version_ldflags("v1.34.4")
    assert "-X k8s.io/component-base/version.gitVersion=v1.34.4" in flags
    assert "-X k8s.io/client-go/pkg/version.gitMinor=34" in flags
    assert etcd_version_from_constants('\tDefaultEtcdVersion = "3.6.5-0"\n') == "v3.6.5"
    with pytest.raises(BuildError):
        etcd_version_from_constants("nothing here")
    assert validate_k8s_version("1.35.4") == "v1.35.4"
    with pytest.raises(BuildError, match="not supported"):
        validate_k8s_version("v1.29.0")


def test_kubeadm_documents() -> None:
    spec = make_spec("kh", "10.231.3.0/24", "v1.34.4", 2, 1, weak=False)
    init_docs = list(yaml.safe_load_all(init_configuration(spec, spec.control_planes[0])))
    assert [d["kind"] for d in init_docs] == ["InitConfiguration", "ClusterConfiguration", "KubeletConfiguration"]
    assert init_docs[2]["serverTLSBootstrap"] is True
    assert init_docs[0]["localAPIEndpoint"]["advertiseAddress"] == "10.231.3.11"
    assert init_docs[1]["controlPlaneEndpoint"] == "10.231.3.11:6443"
    assert "cp2" in init_docs[1]["apiServer"]["certSANs"]


def test_inventory_is_a_pyinfra_inventory_with_strict_host_keys(tmp_path: Path) -> None:
    spec = make_spec("kh", "10.231.3.0/24", "v1.34.4", 1, 2, weak=False)
    path = tmp_path / "inventory.py"
    path.write_text(render_inventory(spec, tmp_path))
    module = runpy.run_path(str(path))
    assert [name for name, _ in module["control_plane"]] == ["cp1"]
    assert [name for name, _ in module["workers"]] == ["w1", "w2"]
    for _, data in module["control_plane"] + module["workers"]:
        assert data["ssh_strict_host_key_checking"] == "yes"
        assert data["ssh_known_hosts_file"] == str(tmp_path / "known_hosts")
        assert data["kubeharden_firewall_admin_cidrs"] == ["10.231.3.1/32"]
    assert module["LAB_ADMIN_ADDRESS"] == "10.231.3.1"
