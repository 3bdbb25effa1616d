"""Planners of controller-manager, scheduler and etcd controls that need more than a flag edit.

- 1.3.7 / 1.4.2: bind to 127.0.0.1, and point the kubelet's probes there (kubeadm's probes name the host).
- KH-ETCD-URLS: kubeharden cannot switch etcd to https for you (clients and peers must change together): a plain
  URL is a problem that stops the run before anything changes. Pure logic.
"""

from __future__ import annotations

from collections.abc import Mapping

from kubeharden.core import values
from kubeharden.core.catalog.model import Control, UrlsTest
from kubeharden.core.planning.editor import PodEditor
from kubeharden.core.planning.generic import apply_flag_test
from kubeharden.core.planning.registry import planner


@planner("1.3.7", "1.4.2")
def loopback(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    for control in controls.values():
        for test in control.flag_tests:
            apply_flag_test(ed, control, test)
            host = ed.pod.get_flag(test.flag)
            if host:
                ed.align_probes(control.id, host, None)


@planner("KH-ETCD-URLS")
def etcd_urls(ed: PodEditor, controls: Mapping[str, Control]) -> None:
    control = controls["KH-ETCD-URLS"]
    flags = [f for t in control.tests if isinstance(t, UrlsTest) for f in t.flags]
    for flag in (*flags, "--initial-advertise-peer-urls"):
        plain = [url for url in values.items(ed.pod.get_flag(flag)) if not url.lower().startswith("https://")]
        if plain:
            ed.problem(
                f"etcd: {flag} has {', '.join(plain)}, which is not https: kubeharden cannot switch it for you "
                "(clients and peers must change too); serve https with the certificates in "
                f"{ed.etcd_pki} and change every member and kube-apiserver's --etcd-servers together"
            )
