"""The health gate gives up as soon as the component's own log says it exited on its configuration.

The on-host program reads only what the component wrote AFTER the new manifest (log offsets), in the lab runner's
plain format and in the kubelet's CRI format, so an old error in the log never fails a good change.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kubeharden.host.onhost import apply_manifest


@pytest.fixture
def logs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(
        apply_manifest, "LOG_GLOBS", (str(tmp_path / "pods" / "{c}-*.log"), str(tmp_path / "lab" / "{c}.yaml.log"))
    )
    (tmp_path / "pods").mkdir()
    (tmp_path / "lab").mkdir()
    return tmp_path


def test_only_lines_written_after_the_offsets_count(logs: Path) -> None:
    lab_log = logs / "lab" / "kube-apiserver.yaml.log"
    lab_log.write_text("Error: unknown flag: --old-mistake\n")
    offsets = apply_manifest.log_offsets("kube-apiserver")
    assert apply_manifest.fatal_lines(apply_manifest.new_log_lines("kube-apiserver", offsets)) == []
    with lab_log.open("a") as fh:
        fh.write("I1202 10:00:00.000000       1 server.go:1] starting\nError: unknown flag: --no-such-flag\n")
    assert apply_manifest.fatal_lines(apply_manifest.new_log_lines("kube-apiserver", offsets)) == [
        "Error: unknown flag: --no-such-flag"
    ]


def test_a_new_cri_log_file_is_read_from_its_start_without_the_prefix(logs: Path) -> None:
    offsets = apply_manifest.log_offsets("kube-apiserver")
    (logs / "pods" / "kube-apiserver-1.log").write_text(
        '2026-12-02T10:00:00.1Z stderr F I1202 10:00:00.1 1 flags.go:64] FLAG: --event-ttl="forever"\n'
        '2026-12-02T10:00:00.2Z stderr F F1202 10:00:00.2 1 server.go:9] invalid argument "forever"\n'
    )
    fatal = apply_manifest.fatal_lines(apply_manifest.new_log_lines("kube-apiserver", offsets))
    assert fatal == ['F1202 10:00:00.2 1 server.go:9] invalid argument "forever"']


def test_errors_that_are_not_fatal_do_not_stop_the_wait() -> None:
    lines = ["E1202 10:00:00 1 reflector.go:1] failed to list", "W1202 warning", "Error from server: later"]
    assert apply_manifest.fatal_lines(lines) == []
