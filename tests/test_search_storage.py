"""The study file: write checks before any trial, the one-driver lock, read-only opening."""
from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from tinygrad_init.search.storage import Storage, StorageError

def sha256(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def run_python(code: str) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter (another process: POSIX locks are per process)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=60)


LR, OTHER = 1, 2  # study ids (the lock is one byte per study id)


def test_a_second_driver_of_the_same_study_is_refused_until_the_first_ends(tmp_path):
    path = str(tmp_path / "s.db")
    first = Storage(path)
    first.lock_study(LR, "lr")
    code = f"""
        from tinygrad_init.search.storage import Storage, StorageError
        other = Storage({path!r})
        try:
            other.lock_study({LR}, "lr")
            print("locked")
        except StorageError as exc:
            print("refused:", exc)
        other.lock_study({OTHER}, "another study")
        print("another study: locked")
    """
    out = run_python(code).stdout
    assert "refused: study 'lr' in" in out and "in use by another search process" in out, out
    assert "another study: locked" in out  # the lock is per study, not per file
    first.close()  # ends the first driver: its lock is released
    assert "\nlocked" in "\n" + run_python(code).stdout


def test_in_one_process_a_study_is_locked_once_and_closing_another_keeps_the_lock(tmp_path):
    # POSIX locks belong to the process and closing any descriptor of the file drops them all
    path = str(tmp_path / "s.db")
    a = Storage(path)
    a.lock_study(LR, "lr")
    with pytest.raises(StorageError, match="in use by another search in this process"):
        Storage(path).lock_study(LR, "lr")
    b = Storage(path)
    b.lock_study(OTHER, "other")
    b.close()  # another study of the same file ends: "lr" must stay locked
    probe = f"""
        from tinygrad_init.search.storage import Storage, StorageError
        try:
            Storage({path!r}).lock_study({LR}, "lr"); print("locked")
        except StorageError as exc:
            print("refused")
    """
    assert run_python(probe).stdout.strip() == "refused"
    a.close()
    assert run_python(probe).stdout.strip() == "locked"


def test_a_symlink_to_the_study_file_shares_its_lock(tmp_path):
    path = tmp_path / "s.db"
    Storage(str(path)).close()
    (tmp_path / "link.db").symlink_to(path)
    a = Storage(str(path))
    a.lock_study(LR, "lr")
    out = run_python(f"""
        from tinygrad_init.search.storage import Storage, StorageError
        try:
            Storage({str(tmp_path / "link.db")!r}).lock_study({LR}, "lr"); print("locked")
        except StorageError as exc:
            print("refused")
    """).stdout.strip()
    a.close()
    assert out == "refused"


def test_the_lock_is_released_when_the_driver_is_killed(tmp_path):
    path = str(tmp_path / "s.db")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        from tinygrad_init.search.storage import Storage
        s = Storage({path!r}); s.lock_study({LR}, "lr"); print("holding", flush=True); time.sleep(60)
    """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(StorageError, match="in use by another search process"):
            Storage(path).lock_study(LR, "lr")
    finally:
        holder.kill()
        holder.wait()
    s = Storage(path)
    s.lock_study(LR, "lr")  # SIGKILL released it
    s.close()


def test_two_processes_creating_a_new_study_file_at_once_both_succeed(tmp_path):
    code = """
        import sys
        from tinygrad_init.search.storage import Storage
        s = Storage(sys.argv[1])
        print(s.create_study(sys.argv[2], {}, "random", {}, 0))
    """
    for attempt in range(4):
        path = str(tmp_path / f"race{attempt}.db")
        procs = [subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), path, name],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for name in ("a", "b")]
        outs = [p.communicate(timeout=60) for p in procs]
        assert all(p.returncode == 0 for p in procs), outs
        assert sorted(Storage(path, readonly=True).study_names()) == ["a", "b"]


def test_a_writable_file_in_a_read_only_directory_is_refused_before_anything_runs(tmp_path, monkeypatch):
    # SQLite creates its journal next to the file, so the directory must be writable too
    d = tmp_path / "ro"
    d.mkdir()
    path = d / "s.db"
    Storage(str(path)).close()  # a valid study file
    before = sha256(path)
    if os.geteuid() == 0:  # root writes anywhere: make os.access answer as for a normal user
        real_access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: False if os.path.abspath(p) == str(d) and mode == os.W_OK
                            else real_access(p, mode))
    else:
        os.chmod(d, 0o555)
    try:
        with pytest.raises(StorageError, match=r"SQLite writes its journal next to the file, and directory "
                                               r".*ro' is not writable"):
            Storage(str(path))
    finally:
        os.chmod(d, 0o755)
    assert sha256(path) == before and sorted(os.listdir(d)) == ["s.db"]


def test_a_write_that_sqlite_refuses_is_a_storage_error(tmp_path):
    path = str(tmp_path / "s.db")
    s = Storage(path)
    s.conn.execute("PRAGMA busy_timeout = 50")
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match=r"cannot write study storage .*locked"):
            s.create_study("x", {}, "random", {}, 0)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert s.study_names() == []
    s.close()


def test_read_only_opening_never_writes(tmp_path):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    with pytest.raises(StorageError, match="not a study file: it has no tables"):
        Storage(str(empty), readonly=True)
    assert empty.read_bytes() == b""

    path = tmp_path / "s.db"
    s = Storage(str(path))
    s.create_study("lr", {"x": {"type": "uniform", "lo": 0.0, "hi": 1.0}}, "random", {}, 0)
    s.close()
    before = sha256(path)
    r = Storage(str(path), readonly=True)
    assert r.study_names() == ["lr"]
    with pytest.raises(StorageError, match="cannot write"):
        r.create_study("other", {}, "random", {}, 0)
    r.close()
    assert sha256(path) == before and not os.path.exists(str(path) + ".lock")
