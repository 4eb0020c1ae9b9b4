"""SQLite storage of search studies, written by the driver process alone.

Schema (one file holds any number of studies)::

    studies(id, name UNIQUE, space JSON, strategy, strategy_options JSON, seed, created,
            direction 'minimize' | 'maximize')
    trials(study_id, number, params JSON, budget, status, value, intermediate JSON,
           started, finished, error, batch, tells_before, tell_order)

``status`` is ``running``, ``complete``, ``failed`` or ``pruned``. ``batch`` groups
the trials proposed by one ``ask_batch`` call, ``tells_before`` is the number of
results told to the strategy before that call, and ``tell_order`` the position
of the trial's own result in the sequence of tells (NULL while running): with
them the runner replays asks and tells in their original order after a restart.
Every change is one transaction, so a kill leaves either the old or the new row.

One driver at a time per study: ``lock_study(id, name)`` takes an exclusive lock
(``fcntl.lockf`` on byte ``id`` of the side file ``<real path>.lock``) that the
operating system releases when the driver exits, even when it is killed. Such
locks belong to a process, and closing any descriptor of the file drops them all,
so each lock file is opened once per process (``_HELD``), which also refuses a
second driver of the same study in the same process. Not available without
``fcntl`` (Windows): no lock there.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
import urllib.parse
from typing import Any, BinaryIO, Iterable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    space TEXT NOT NULL,
    strategy TEXT NOT NULL,
    strategy_options TEXT NOT NULL,
    seed INTEGER,
    created REAL NOT NULL,
    direction TEXT NOT NULL DEFAULT 'minimize' CHECK (direction IN ('minimize', 'maximize'))
);
CREATE TABLE IF NOT EXISTS trials (
    study_id INTEGER NOT NULL REFERENCES studies(id),
    number INTEGER NOT NULL,
    params TEXT NOT NULL,
    budget REAL,
    status TEXT NOT NULL CHECK (status IN ('running', 'complete', 'failed', 'pruned')),
    value REAL,
    intermediate TEXT NOT NULL DEFAULT '[]',
    started REAL,
    finished REAL,
    error TEXT,
    batch INTEGER NOT NULL,
    tells_before INTEGER NOT NULL,
    tell_order INTEGER,
    PRIMARY KEY (study_id, number)
);
"""


class StorageError(ValueError):
    """The study storage cannot be opened or written."""


# lock file (real path) -> (its one open file in this process, ids of the studies locked in it)
_HELD: dict[str, tuple[BinaryIO, set[int]]] = {}
_HELD_GUARD = threading.Lock()


def parse_url(url: str | os.PathLike | None) -> str:
    """``"sqlite:///study.db"`` (relative), ``"sqlite:////abs/study.db"``, a plain
    path, or ``None``/``"sqlite:///:memory:"`` (in memory) -> a path for sqlite3."""
    if url is None:
        return ":memory:"
    url = os.fspath(url)
    if url.startswith("sqlite:///"):
        return url[len("sqlite:///"):] or ":memory:"
    if "://" in url:
        raise StorageError(f"storage={url!r} is invalid: must be 'sqlite:///path.db', a file path, "
                           "or None (in memory)")
    return url


def _finite(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


class Storage:
    """A study file. Opening checks that it can be written, before any trial runs;
    ``readonly=True`` (``search show``, ``load_study``) opens an existing file
    without ever writing to it.

    :raises StorageError: naming the path and the reason.
    """

    def __init__(self, url: str | os.PathLike | None, readonly: bool = False):
        self.url = "sqlite:///:memory:" if url is None else os.fspath(url)
        self.path = parse_url(url)
        self._locked: tuple[str, int] | None = None
        if self.path != ":memory:" and not readonly:
            self._check_writable(self.path)
        try:
            if readonly and self.path != ":memory:":
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0)
            else:
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.Error as exc:
            raise StorageError(f"cannot open study storage {self.path!r}: {exc}") from None
        if not tables and readonly and self.path != ":memory:":
            self.conn.close()
            raise StorageError(f"{self.path!r} is not a study file: it has no tables (an empty file?)")
        if not tables:
            try:
                with self.transaction():
                    for stmt in SCHEMA.split(";"):
                        if stmt.strip():
                            self.conn.execute(stmt)
            except sqlite3.Error as exc:
                raise StorageError(f"cannot write study storage {self.path!r}: {exc}") from None
        elif not {"studies", "trials"} <= tables:
            self.conn.close()
            raise StorageError(f"{self.path!r} is an SQLite file but not a tinygrad_init study file "
                               f"(tables: {', '.join(sorted(tables))})")
        # a file from before directions (all minimized) gets the column when a study is created in it
        self._has_direction = "direction" in {r[1] for r in self.conn.execute("PRAGMA table_info(studies)")}

    @staticmethod
    def _check_writable(path: str) -> None:
        parent = os.path.dirname(os.path.abspath(path))
        if os.path.exists(path):
            if not os.path.isfile(path):
                raise StorageError(f"cannot use study storage {path!r}: it is not a regular file")
            if not os.access(path, os.W_OK):
                raise StorageError(f"cannot write study storage {path!r}: permission denied")
            if not os.access(parent, os.W_OK):
                raise StorageError(f"cannot write study storage {path!r}: SQLite writes its journal next to "
                                   f"the file, and directory {parent!r} is not writable")
        elif not os.path.isdir(parent):
            raise StorageError(f"cannot create study storage {path!r}: directory {parent!r} does not exist")
        elif not os.access(parent, os.W_OK):
            raise StorageError(f"cannot create study storage {path!r}: directory {parent!r} is not writable")

    def transaction(self):
        storage = self

        class _Tx:
            def __enter__(self):
                try:
                    storage.conn.execute("BEGIN IMMEDIATE")
                except sqlite3.Error as exc:
                    raise StorageError(f"cannot write study storage {storage.path!r}: {exc}") from None
                return storage.conn

            def __exit__(self, et, ev, tb):
                try:
                    storage.conn.execute("COMMIT" if et is None else "ROLLBACK")
                except sqlite3.Error as exc:
                    if et is None:
                        raise StorageError(f"cannot write study storage {storage.path!r}: {exc}") from None
                if isinstance(ev, sqlite3.Error):
                    raise StorageError(f"cannot write study storage {storage.path!r}: {ev}") from ev
                return False

        return _Tx()

    def lock_study(self, study_id: int, name: str) -> None:
        """Take the exclusive driver lock of study ``study_id`` (held until ``close``).

        :raises StorageError: another driver holds it (a search of this study is running)."""
        if self.path == ":memory:" or fcntl is None:
            return
        lock_path = os.path.realpath(self.path) + ".lock"
        busy = (f"study {name!r} in {self.path!r} is in use by another search {{}}; wait for it to end "
                "(or stop it), or use another study name")
        with _HELD_GUARD:
            f, ids = _HELD.get(lock_path) or (None, set())
            if study_id in ids:
                raise StorageError(busy.format("in this process"))
            if f is None:
                try:
                    f = open(lock_path, "a+b")
                except OSError as exc:
                    raise StorageError(f"cannot create the lock file {lock_path!r}: {exc}") from None
            try:
                fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, study_id)
            except OSError:
                if not ids:
                    f.close()
                raise StorageError(busy.format("process")) from None
            ids.add(study_id)
            _HELD[lock_path] = (f, ids)
            self._locked = (lock_path, study_id)

    def close(self) -> None:
        self.conn.close()
        if self._locked is not None:
            lock_path, study_id = self._locked
            self._locked = None
            with _HELD_GUARD:
                f, ids = _HELD[lock_path]
                fcntl.lockf(f, fcntl.LOCK_UN, 1, study_id)
                ids.discard(study_id)
                if not ids:  # the last study of this file in this process: now the file may close
                    f.close()
                    del _HELD[lock_path]

    # ----------------------------------------------------------------- studies
    def study_names(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM studies ORDER BY id")]

    def get_study(self, name: str) -> dict | None:
        direction = "direction" if self._has_direction else "'minimize'"
        row = self.conn.execute(f"SELECT id, name, space, strategy, strategy_options, seed, created, {direction} "
                                "FROM studies WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return {"id": row[0], "name": row[1], "space": json.loads(row[2]), "strategy": row[3],
                "strategy_options": json.loads(row[4]), "seed": row[5], "created": row[6], "direction": row[7]}

    def create_study(self, name: str, space: dict, strategy: str, options: dict, seed: int | None,
                     direction: str = "minimize") -> int | None:
        """Insert a study; ``None`` if another process has just created one of that name."""
        with self.transaction() as c:
            if not self._has_direction:  # a file from before directions: add the column now
                c.execute("ALTER TABLE studies ADD COLUMN direction TEXT NOT NULL DEFAULT 'minimize'")
                self._has_direction = True
            cur = c.execute("INSERT INTO studies (name, space, strategy, strategy_options, seed, created, "
                            "direction) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                            (name, json.dumps(space), strategy, json.dumps(options, sort_keys=True),
                             seed, time.time(), direction))
            return int(cur.lastrowid) if cur.rowcount == 1 else None

    # ----------------------------------------------------------------- trials
    def trials(self, study_id: int) -> list[dict]:
        rows = self.conn.execute(
            "SELECT number, params, budget, status, value, intermediate, started, finished, error, "
            "batch, tells_before, tell_order FROM trials WHERE study_id = ? ORDER BY number", (study_id,))
        out = []
        for r in rows:
            budget = r[2]
            if budget is not None and float(budget).is_integer():
                budget = int(budget)
            out.append({"number": r[0], "params": json.loads(r[1]), "budget": budget, "status": r[3],
                        "value": r[4], "intermediate": [(int(s), v) for s, v in json.loads(r[5])],
                        "started": r[6], "finished": r[7], "error": r[8], "batch": r[9],
                        "tells_before": r[10], "tell_order": r[11]})
        return out

    def add_trials(self, study_id: int, records: Iterable[dict]) -> None:
        """Insert proposed trials (status ``running``) in one transaction."""
        with self.transaction() as c:
            c.executemany(
                "INSERT INTO trials (study_id, number, params, budget, status, batch, tells_before, started) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?)",
                [(study_id, r["number"], json.dumps(r["params"]), r.get("budget"), r["batch"],
                  r["tells_before"], r.get("started")) for r in records])

    def start_trial(self, study_id: int, number: int, started: float) -> None:
        with self.transaction() as c:
            c.execute("UPDATE trials SET started = ? WHERE study_id = ? AND number = ?",
                      (started, study_id, number))

    def finish_trial(self, study_id: int, number: int, *, status: str, value: float | None,
                     intermediate: list, started: float | None, finished: float | None,
                     error: str | None, tell_order: int) -> None:
        with self.transaction() as c:
            c.execute("UPDATE trials SET status = ?, value = ?, intermediate = ?, started = ?, "
                      "finished = ?, error = ?, tell_order = ? WHERE study_id = ? AND number = ?",
                      (status, _finite(value), json.dumps([[int(s), _finite(v)] for s, v in intermediate]),
                       started, finished, error, tell_order, study_id, number))
