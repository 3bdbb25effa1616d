"""`lab up` refuses, before booting anything, a lab that would use up the machine's inotify instances."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubeharden_lab import inotify
from kubeharden_lab.config import LabConfigError, make_spec


def fake_proc(root: Path, processes: list[tuple[int, str, int]], limit: int = 128) -> Path:
    """A /proc with `processes` as (uid, user namespace, inotify fds); one other fd each."""
    (root / "sys/fs/inotify").mkdir(parents=True)
    (root / "sys/fs/inotify/max_user_instances").write_text(f"{limit}\n")
    (root / "self/ns").mkdir(parents=True)
    os.symlink("user:[4026531837]", root / "self/ns/user")
    for pid, (uid, userns, fds) in enumerate(processes, 100):
        (root / f"{pid}/fd").mkdir(parents=True)
        (root / f"{pid}/ns").mkdir()
        (root / f"{pid}/status").write_text(f"Name:\tx\nUid:\t{uid}\t{uid}\t{uid}\t{uid}\n")
        os.symlink(userns, root / f"{pid}/ns/user")
        os.symlink("/dev/null", root / f"{pid}/fd/0")
        for fd in range(1, fds + 1):
            os.symlink("anon_inode:inotify", root / f"{pid}/fd/{fd}")
    return root


def test_instances_of_root_and_of_other_user_namespaces_count_others_do_not(tmp_path: Path) -> None:
    own, other = "user:[4026531837]", "user:[4026532999]"
    proc = fake_proc(tmp_path, [(0, own, 3), (1000, own, 5), (100000, other, 4), (0, own, 0)])
    assert inotify.in_use(proc) == 7
    assert inotify.limit(proc) == 128


def test_a_lab_that_does_not_fit_is_refused_with_the_numbers(tmp_path: Path) -> None:
    spec = make_spec("t", "10.231.9.0/24", "v1.34.4", 2, 1, False)
    want = inotify.needed(spec)
    assert want == 3 * inotify.PER_HOST + 2 * inotify.PER_CONTROL_PLANE + inotify.MARGIN
    proc = fake_proc(tmp_path, [(0, "user:[4026531837]", 128 - want + 1)])
    with pytest.raises(LabConfigError) as info:
        inotify.check(spec, proc)
    text = str(info.value)
    assert f"needs about {want} inotify instances but only {want - 1} of the machine's 128 are free" in text
    assert "lab down" in text and "never changes the machine's sysctls" in text
    assert inotify.budget_problem(want, 128 - want, 128) is None


def test_the_real_proc_is_readable() -> None:
    assert inotify.in_use() >= 0 and inotify.limit() >= 1
