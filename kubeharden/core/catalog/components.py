"""Controls of kube-controller-manager (CIS 1.3), kube-scheduler (1.4) and etcd (2, with 1.1.11), plus KH-*."""

from __future__ import annotations

from kubeharden.core.catalog.apiserver import CIPHERS, TLS_MIN
from kubeharden.core.catalog.model import (
    CONTROLLER_MANAGER,
    ETCD,
    SCHEDULER,
    Control,
    FileTest,
    FlagTest,
    LiveTest,
    Op,
    Param,
    UrlsTest,
)


def _tls(cid: str, component: str, area: str, what: str, port: str) -> Control:
    return Control(
        cid,
        f"{what} serves only TLS at the profile's minimum version (1.2 or higher) with strong cipher suites",
        area,
        component,
        (
            FlagTest("--secure-port", Op.NOTEQ, "0", unset=port, fix=False),
            FlagTest("--tls-min-version", Op.TLS_MIN, TLS_MIN),
            FlagTest("--tls-cipher-suites", Op.SUBSET, CIPHERS),
        ),
        rationale="--secure-port=0 turns the health and metrics endpoints off; kubeharden never writes it",
    )


def _loopback(cid: str, component: str, area: str) -> Control:
    return Control(
        cid,
        "--bind-address is 127.0.0.1",
        area,
        component,
        (FlagTest("--bind-address", Op.EQ, "127.0.0.1", unset="0.0.0.0"),),  # noqa: S104 -- the value judged, not a bind
        applied_by="planner",
        rationale="the kubelet's probes of kubeadm's manifest follow the bind address",
    )


CONTROLLER_MANAGER_CONTROLS: tuple[Control, ...] = (
    Control(
        "1.3.1",
        "--terminated-pod-gc-threshold is set",
        "controller-manager",
        CONTROLLER_MANAGER,
        (FlagTest("--terminated-pod-gc-threshold", Op.SET, default=Param("kubeharden_terminated_pod_gc_threshold")),),
        remediation="set --terminated-pod-gc-threshold (e.g. 10)",
    ),
    Control(
        "1.3.2",
        "--profiling is false",
        "controller-manager",
        CONTROLLER_MANAGER,
        (FlagTest("--profiling", Op.EQ, "false", unset="true"),),
    ),
    Control(
        "1.3.3",
        "--use-service-account-credentials is true",
        "controller-manager",
        CONTROLLER_MANAGER,
        (FlagTest("--use-service-account-credentials", Op.EQ, "true", unset="false"),),
    ),
    Control(
        "1.3.4",
        "--service-account-private-key-file is set",
        "controller-manager",
        CONTROLLER_MANAGER,
        (
            FlagTest(
                "--service-account-private-key-file",
                Op.SET,
                default="{pki}/sa.key",
                volume="k8s-certs",
                must_exist=True,
            ),
        ),
        remediation="set --service-account-private-key-file=/etc/kubernetes/pki/sa.key",
    ),
    Control(
        "1.3.5",
        "--root-ca-file is set",
        "controller-manager",
        CONTROLLER_MANAGER,
        (FlagTest("--root-ca-file", Op.SET, default="{pki}/ca.crt", volume="k8s-certs", must_exist=True),),
        remediation="set --root-ca-file=/etc/kubernetes/pki/ca.crt",
    ),
    Control(
        "1.3.6",
        "RotateKubeletServerCertificate is not disabled",
        "controller-manager",
        CONTROLLER_MANAGER,
        (FlagTest("--feature-gates", Op.GATE_ON, "RotateKubeletServerCertificate"),),
    ),
    _loopback("1.3.7", CONTROLLER_MANAGER, "controller-manager"),
    _tls("KH-KCM-TLS", CONTROLLER_MANAGER, "controller-manager", "kube-controller-manager", "10257"),
)

SCHEDULER_CONTROLS: tuple[Control, ...] = (
    Control(
        "1.4.1",
        "--profiling is false",
        "scheduler",
        SCHEDULER,
        (
            FlagTest(
                "--profiling",
                Op.EQ,
                "false",
                unset="true",
                note_if_flag=(
                    "--config",
                    "1.4.1: kube-scheduler reads --config; there --profiling is ignored and the file's "
                    "enableProfiling decides: set enableProfiling: false in it",
                ),
            ),
        ),
    ),
    _loopback("1.4.2", SCHEDULER, "scheduler"),
    _tls("KH-SCHED-TLS", SCHEDULER, "scheduler", "kube-scheduler", "10259"),
)


def _etcd_cert(flag: str, name: str) -> FlagTest:
    return FlagTest(flag, Op.SET, default="{etcd_pki}/" + name, volume="etcd-certs", must_exist=True)


ETCD_CONTROLS: tuple[Control, ...] = (
    Control(
        "1.1.11",
        "The etcd data directory permissions are 700 or stricter",
        "etcd",
        ETCD,
        (FileTest(0o700, flag=(ETCD, "--data-dir")),),
        remediation="chmod 700 on the directory etcd's --data-dir names (kubeadm: /var/lib/etcd)",
        layer="infrastructure",
    ),
    *(
        Control(cid, title, "etcd", ETCD, tests, remediation=fix, expected=expected)
        for cid, title, tests, fix, expected in (
            (
                "2.1",
                "--cert-file and --key-file are set",
                (_etcd_cert("--cert-file", "server.crt"), _etcd_cert("--key-file", "server.key")),
                "set them to /etc/kubernetes/pki/etcd/server.{crt,key}",
                "both set",
            ),
            (
                "2.2",
                "--client-cert-auth is true",
                (FlagTest("--client-cert-auth", Op.EQ, "true", unset="false"),),
                "",
                "",
            ),
            (
                "2.3",
                "--auto-tls is not true",
                (FlagTest("--auto-tls", Op.EQ, "false", unset="false", write="remove"),),
                "remove --auto-tls",
                "",
            ),
            (
                "2.4",
                "--peer-cert-file and --peer-key-file are set",
                (_etcd_cert("--peer-cert-file", "peer.crt"), _etcd_cert("--peer-key-file", "peer.key")),
                "set them to /etc/kubernetes/pki/etcd/peer.{crt,key}",
                "both set",
            ),
            (
                "2.5",
                "--peer-client-cert-auth is true",
                (FlagTest("--peer-client-cert-auth", Op.EQ, "true", unset="false"),),
                "",
                "",
            ),
            (
                "2.6",
                "--peer-auto-tls is not true",
                (FlagTest("--peer-auto-tls", Op.EQ, "false", unset="false", write="remove"),),
                "remove --peer-auto-tls",
                "",
            ),
            (
                "2.7",
                "--trusted-ca-file and --peer-trusted-ca-file are set",
                (_etcd_cert("--trusted-ca-file", "ca.crt"), _etcd_cert("--peer-trusted-ca-file", "ca.crt")),
                "set them to /etc/kubernetes/pki/etcd/ca.crt",
                "both set (etcd's own CA)",
            ),
        )
    ),
    Control(
        "KH-ETCD-URLS",
        "Client and peer URLs are https only (the loopback metrics listener may stay http)",
        "etcd",
        ETCD,
        (UrlsTest(("--listen-client-urls", "--listen-peer-urls", "--advertise-client-urls")),),
        applied_by="planner",
        expected="every URL https://",
        remediation="use https:// in --listen-client-urls, --listen-peer-urls and --advertise-client-urls",
        rationale="kubeharden cannot switch a member to https for you: clients and peers must change together",
    ),
    Control(
        "KH-ETCD-TLS",
        "etcd accepts only the profile's minimum TLS version (1.2 or higher)",
        "etcd",
        ETCD,
        (FlagTest("--tls-min-version", Op.TLS_MIN, TLS_MIN),),
        rationale="etcd has --tls-min-version only from 3.4.25 and 3.5.8; older etcd stops on the flag",
    ),
    Control(
        "KH-ETCD-CLIENT-live",
        "etcd refuses a client without a certificate",
        "etcd",
        ETCD,
        (LiveTest("etcd_requires_client_cert"),),
        applied_by="none",
        expected="TLS handshake without a client certificate refused",
        remediation="set --client-cert-auth=true",
        tags=("live",),
    ),
)
