"""SQLite storage of search studies, written by the driver process alone.

Schema (one file holds any number of studies)::

    studies(id, name UNIQUE, space JSON, strategy, strategy_options JSON, seed, created,
            direction 'minimize' | 'maximize')
    trials(study_id, number, params JSON, budget, status, value, intermediate JSON,
           started, finished, error, attempts)

``status`` is ``running``, ``complete``, ``failed`` or ``pruned``; ``attempts`` counts the
starts of a trial (a trial left ``running`` by a crash is started again). The rows are the
whole state of a study: samplers propose from them and pruners decide from their
intermediate values, so resuming is reopening the file. Every change is one transaction,
so a kill leaves either the old or the new row. Every query and every JSON column read is
wrapped: a damaged file is a ``StorageError`` naming the path (and the study and trial).

One driver at a time per study: ``lock_study(id, name)`` takes an exclusive ``fcntl.lockf``
lock on byte ``id`` of a lock file named after the study file's device and inode (so a
symlink or a hard link shares it), in ``<temp dir>/tinygrad-init-locks``. The operating
system releases it when the driver exits, even when killed. Such locks belong to a
process and closing any descriptor of the file drops them all, so each lock file is opened
once per process (``_HELD``), which also refuses a second driver of a study in one process.
Not available without ``fcntl`` (Windows): no lock there.
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import tempfile
import threading
import time
import urllib.parse
from typing import Any, BinaryIO, Iterable

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

STUDY_COLUMNS = ("id", "name", "space", "strategy", "strategy_options", "seed", "created", "direction")
TRIAL_COLUMNS = ("study_id", "number", "params", "budget", "status", "value", "intermediate", "started",
                 "finished", "error", "attempts")
SCHEMA = """
CREATE TABLE studies (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    space TEXT NOT NULL,
    strategy TEXT NOT NULL,
    strategy_options TEXT NOT NULL,
    seed INTEGER,
    created REAL NOT NULL,
    direction TEXT NOT NULL DEFAULT 'minimize' CHECK (direction IN ('minimize', 'maximize'))
);
CREATE TABLE trials (
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
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (study_id, number)
)
"""
OLD_TRIAL_COLUMNS = ("batch", "tells_before", "tell_order")  # replay bookkeeping of files before 2026-12
ERROR_LIMIT = 4000  # characters of a failed trial's error text that are stored (head and tail)


class StorageError(ValueError):
    """The study storage cannot be opened, read or written."""


# lock file -> (its one open file in this process, ids of the studies locked in it)
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


def bound_text(text: str | None, limit: int = ERROR_LIMIT) -> str | None:
    """``text`` cut to at most ``limit`` characters, keeping its head and its tail."""
    if text is None or len(text) <= limit:
        return text
    cut = f"\n... [{len(text) - limit + 40} characters cut] ...\n"
    half = (limit - len(cut)) // 2
    return text[:half] + cut + text[-half:]


class Storage:
    """A study file. Opening checks that it can be written (before any trial runs) and that
    it is an intact study file; ``readonly=True`` (``search show``, ``load_study``) opens an
    existing file without ever writing to it.

    :raises StorageError: naming the path and the reason.
    """

    def __init__(self, url: str | os.PathLike | None, readonly: bool = False):
        self.url = "sqlite:///:memory:" if url is None else os.fspath(url)
        self.path = parse_url(url)
        self.readonly = readonly
        self._locked: tuple[str, int] | None = None
        if self.path != ":memory:" and not readonly:
            self._check_writable(self.path)
        try:
            if readonly and self.path != ":memory:":
                uri = "file:" + urllib.parse.quote(os.path.abspath(self.path)) + "?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=30.0,
                                            check_same_thread=False)
            else:
                self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0, check_same_thread=False)
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and self.path != ":memory:":
                bad = [r[0] for r in self.conn.execute("PRAGMA quick_check")]
                if bad != ["ok"]:
                    raise sqlite3.DatabaseError("damaged: PRAGMA quick_check says " + "; ".join(bad[:3]))
        except sqlite3.Error as exc:
            if "conn" in self.__dict__:
                self.conn.close()
            raise StorageError(f"cannot open study storage {self.path!r}: {exc}") from None
        if not tables and readonly and self.path != ":memory:":
            self.conn.close()
            raise StorageError(f"{self.path!r} is not a study file: it has no tables (an empty file?)")
        if not tables:
            with self.transaction() as c:
                for stmt in SCHEMA.split(";"):
                    c.execute(stmt)
            tables = {"studies", "trials"}
        self.columns = {t: self._columns(t) for t in ("studies", "trials") if t in tables}
        old = set(STUDY_COLUMNS[:-1]) <= set(self.columns.get("studies", ())) and \
            set(TRIAL_COLUMNS[:-1]) <= set(self.columns.get("trials", ()))
        if not old:
            self.conn.close()
            have = ", ".join(f"{t}({', '.join(c)})" for t, c in self.columns.items()) or ", ".join(sorted(tables))
            raise StorageError(f"{self.path!r} is an SQLite file but not a tinygrad_init study file "
                               f"(it has {have})")

    def _columns(self, table: str) -> list[str]:
        return [r[1] for r in self.conn.execute(f"PRAGMA table_info({table})")]

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

    def _query(self, sql: str, args: tuple = (), where: str = "") -> list[tuple]:
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise StorageError(f"cannot read study storage {self.path!r}{where}: {exc}") from None

    def _json(self, text: Any, column: str, where: str) -> Any:
        try:
            return json.loads(text)
        except (TypeError, ValueError) as exc:
            raise StorageError(f"study storage {self.path!r}{where}: column {column} is not valid JSON "
                               f"({exc}): {str(text)[:80]!r}") from None

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

    def migrate(self) -> None:
        """Bring a file of an older schema up to date (before this driver's first write):
        add ``direction`` and ``attempts``, drop the replay columns of older versions."""
        cols = self.columns
        if "direction" in cols["studies"] and set(cols["trials"]) == set(TRIAL_COLUMNS):
            return
        with self.transaction() as c:
            if "direction" not in cols["studies"]:
                c.execute("ALTER TABLE studies ADD COLUMN direction TEXT NOT NULL DEFAULT 'minimize'")
            if "attempts" not in cols["trials"]:
                c.execute("ALTER TABLE trials ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0")
            for col in OLD_TRIAL_COLUMNS:
                if col in cols["trials"]:
                    c.execute(f"ALTER TABLE trials DROP COLUMN {col}")
        self.columns = {t: self._columns(t) for t in ("studies", "trials")}

    def lock_study(self, study_id: int, name: str) -> None:
        """Take the exclusive driver lock of study ``study_id`` (held until ``close``).

        :raises StorageError: another driver holds it (a search of this study is running)."""
        if self.path == ":memory:" or fcntl is None:
            return
        st = os.stat(self.path)
        lock_dir = os.path.join(tempfile.gettempdir(), "tinygrad-init-locks")
        lock_path = os.path.join(lock_dir, f"{st.st_dev}-{st.st_ino}.lock")
        busy = (f"study {name!r} in {self.path!r} is in use by another search {{}}; wait for it to end "
                "(or stop it), or use another study name")
        with _HELD_GUARD:
            f, ids = _HELD.get(lock_path) or (None, set())
            if study_id in ids:
                raise StorageError(busy.format("in this process"))
            if f is None:
                try:
                    os.makedirs(lock_dir, mode=0o1777, exist_ok=True)
                    f = os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666), "r+b")
                except OSError as exc:
                    raise StorageError(f"cannot create the lock file {lock_path!r} of {self.path!r}: {exc}") from None
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
        return [r[0] for r in self._query("SELECT name FROM studies ORDER BY id")]

    def get_study(self, name: str) -> dict | None:
        direction = "direction" if "direction" in self.columns["studies"] else "'minimize'"
        rows = self._query(f"SELECT id, name, space, strategy, strategy_options, seed, created, {direction} "
                           "FROM studies WHERE name = ?", (name,), f", study {name!r}")
        if not rows:
            return None
        r, where = rows[0], f", study {name!r}"
        return {"id": r[0], "name": r[1], "space": self._json(r[2], "space", where), "strategy": r[3],
                "strategy_options": self._json(r[4], "strategy_options", where), "seed": r[5], "created": r[6],
                "direction": r[7]}

    def create_study(self, name: str, space: dict, strategy: str, options: dict, seed: int | None,
                     direction: str = "minimize") -> int | None:
        """Insert a study; ``None`` if another process has just created one of that name."""
        self.migrate()
        with self.transaction() as c:
            cur = c.execute("INSERT INTO studies (name, space, strategy, strategy_options, seed, created, "
                            "direction) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING",
                            (name, json.dumps(space), strategy, json.dumps(options, sort_keys=True),
                             seed, time.time(), direction))
            return int(cur.lastrowid) if cur.rowcount == 1 else None

    # ----------------------------------------------------------------- trials
    def trials(self, study_id: int, name: str = "") -> list[dict]:
        attempts = "attempts" if "attempts" in self.columns["trials"] else "0"
        rows = self._query("SELECT number, params, budget, status, value, intermediate, started, finished, error, "
                           f"{attempts} FROM trials WHERE study_id = ? ORDER BY number", (study_id,),
                           f", study {name!r}")
        out = []
        for r in rows:
            where = f", study {name!r}, trial {r[0]}"
            budget = r[2]
            if budget is not None and float(budget).is_integer():
                budget = int(budget)
            inter = self._json(r[5], "intermediate", where)
            try:
                inter = [(int(s), None if v is None else float(v)) for s, v in inter]
            except (TypeError, ValueError):
                raise StorageError(f"study storage {self.path!r}{where}: column intermediate is not a list of "
                                   f"[step, value] pairs: {r[5][:80]!r}") from None
            if r[3] not in ("running", "complete", "failed", "pruned"):
                raise StorageError(f"study storage {self.path!r}{where}: status {r[3]!r} is not a trial status")
            out.append({"number": r[0], "params": self._json(r[1], "params", where), "budget": budget,
                        "status": r[3], "value": r[4], "intermediate": inter, "started": r[6],
                        "finished": r[7], "error": r[8], "attempts": r[9]})
        return out

    def add_trial(self, study_id: int, number: int, params: dict, budget: Any, started: float) -> None:
        """Insert a proposed trial (status ``running``, its first attempt)."""
        with self.transaction() as c:
            c.execute("INSERT INTO trials (study_id, number, params, budget, status, started, attempts) "
                      "VALUES (?, ?, ?, ?, 'running', ?, 1)", (study_id, number, json.dumps(params), budget, started))

    def restart_trial(self, study_id: int, number: int, started: float) -> None:
        """A trial left ``running`` starts again: a new attempt, its old reports dropped."""
        with self.transaction() as c:
            c.execute("UPDATE trials SET started = ?, intermediate = '[]', attempts = attempts + 1 "
                      "WHERE study_id = ? AND number = ?", (started, study_id, number))

    def report(self, study_id: int, number: int, intermediate: list) -> None:
        with self.transaction() as c:
            c.execute("UPDATE trials SET intermediate = ? WHERE study_id = ? AND number = ?",
                      (json.dumps([[int(s), _finite(v)] for s, v in intermediate]), study_id, number))

    def finish_trial(self, study_id: int, number: int, *, status: str, value: float | None,
                     intermediate: list, started: float | None, finished: float | None,
                     error: str | None) -> None:
        with self.transaction() as c:
            c.execute("UPDATE trials SET status = ?, value = ?, intermediate = ?, started = ?, "
                      "finished = ?, error = ? WHERE study_id = ? AND number = ?",
                      (status, _finite(value), json.dumps([[int(s), _finite(v)] for s, v in intermediate]),
                       started, finished, bound_text(error), study_id, number))

