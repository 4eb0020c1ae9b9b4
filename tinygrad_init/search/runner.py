"""The search runner: proposes trials from the study's storage, runs them (in process or
on an executor), records every trial in SQLite from the driver process, prunes from the
reported values, and resumes by reopening the storage.

``run(objective, space, ...)`` is the entry point; ``load_study(storage)`` reads
a study back. See docs/search.md for the storage schema and resume semantics.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import multiprocessing
import os
import pickle
import signal
import socket
import threading
import time
import traceback
import warnings
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, ProcessPoolExecutor, wait
from multiprocessing.connection import Client, Listener
from typing import Any, Callable, Iterable, Mapping

from ..hookspecs import hookimpl
from ..registry import lifecycle_manager
from .space import Space
from .storage import Storage, StorageError, bound_text, parse_url
from .strategy import Observed, Pruner, SearchExhausted, Strategy, clean_value

STATUSES = ("running", "complete", "failed", "pruned")
GRACE = 2.0  # seconds past a timeout before the driver itself fails a trial it cannot interrupt


class TrialPruned(Exception):
    """Raise from an objective (or a callback inside it) to stop a trial early.

    The trial is recorded as ``pruned`` with its last reported value."""


class _Timeout(BaseException):
    """Raised inside an objective by the per-trial timer (a BaseException, so an objective's
    ``except Exception`` does not swallow it)."""


class Trial:
    """One evaluation of the objective.

    Attributes: ``number`` (0-based, unique in the study), ``params`` (dict), ``budget``
    (the pruner's resource budget, e.g. Hyperband's ``max_resource``, else ``None``),
    ``status``, ``value``, ``intermediate`` (list of ``(step, value)``), ``error`` (text of
    a failure), ``started``/``finished`` (Unix times), ``attempts`` (starts so far).

    Inside an objective use :meth:`report` and :meth:`should_prune`.
    """

    def __init__(self, number: int, params: Mapping[str, Any], budget: Any = None, *,
                 status: str = "running", value: float | None = None,
                 intermediate: Iterable[tuple[int, float]] = (), error: str | None = None,
                 started: float | None = None, finished: float | None = None, attempts: int = 0):
        self.number, self.params, self.budget = number, dict(params), budget
        self.status, self.value, self.error = status, value, error
        self.intermediate = [(int(s), v) for s, v in intermediate]
        self.started, self.finished, self.attempts = started, finished, attempts
        self._judge: Callable[[int, int, float | None, bool], bool] | None = None  # in the driver
        self._link: tuple | None = None  # (address, authkey) of the driver, for trials elsewhere
        self._conn: Any = None
        self._prune = False  # the judgment of the last report

    def report(self, step: int, value: float) -> None:
        """Record an intermediate ``value`` (e.g. the validation loss) at ``step`` (e.g. the
        epoch). The driver's pruner judges it at once (in the driver, or over a connection
        from a worker process, thread or Dask worker), and :meth:`should_prune` returns that
        judgment."""
        v = clean_value(value)
        self.intermediate.append((int(step), math.nan if v is None else v))
        if self._judge is not None:
            self._prune = bool(self._judge(self.number, int(step), v, False))
        elif self._link is not None:
            try:
                if self._conn is None:
                    self._conn = Client(tuple(self._link[0]), authkey=self._link[1])
                self._conn.send((self.number, int(step), v))
                self._prune = bool(self._conn.recv())
            except (OSError, EOFError) as exc:
                warnings.warn(f"search trial {self.number}: cannot reach the driver at {self._link[0]} "
                              f"({exc}); this trial is not pruned", RuntimeWarning, stacklevel=2)
                self._link, self._prune = None, False

    def should_prune(self) -> bool:
        """Whether the pruner wants this trial stopped, given its last report (``False``
        before the first report and without a pruner). Raise :class:`TrialPruned` then."""
        return self._prune

    @property
    def duration(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return self.finished - self.started

    def __repr__(self) -> str:
        return (f"Trial(number={self.number}, status={self.status!r}, value={self.value!r}, "
                f"params={self.params!r}" + (f", budget={self.budget!r}" if self.budget is not None else "")
                + ")")

    def __getstate__(self):
        return {**self.__dict__, "_judge": None, "_conn": None}  # the link travels, not the driver's objects


class PruningCallback:
    """Trainer callback that reports ``logs[monitor]`` at every epoch end to
    ``trial`` and raises :class:`TrialPruned` when ``trial.should_prune()``.

    ``Trainer(..., callbacks=[PruningCallback(trial, "val_loss")])`` inside an
    objective; it prunes wherever the trial runs (in the driver, a pool or Dask).
    """

    def __init__(self, trial: Trial, monitor: str = "val_loss"):
        self.trial, self.monitor = trial, monitor

    @hookimpl
    def tinygrad_init_epoch_end(self, trainer: Any, epoch: int, logs: dict) -> None:
        if self.monitor not in logs:
            raise KeyError(f"PruningCallback: monitor={self.monitor!r} is not in the epoch logs; "
                           f"available: {', '.join(sorted(logs))}")
        self.trial.report(epoch, logs[self.monitor])
        if self.trial.should_prune():
            raise TrialPruned(f"pruned at epoch {epoch}: {self.monitor}={logs[self.monitor]!r}")


class Study:
    """A named set of trials over one space with one strategy.

    Attributes: ``name``, ``space``, ``strategy`` (name), ``strategy_options``,
    ``seed``, ``storage`` (URL), ``trials`` (list of :class:`Trial` by number),
    ``direction`` (``"minimize"`` or ``"maximize"``).
    """

    def __init__(self, name: str, space: Space, strategy: str, strategy_options: dict,
                 seed: int | None, storage: str, trials: list[Trial] | None = None,
                 direction: str = "minimize"):
        self.name, self.space, self.strategy = name, space, strategy
        self.strategy_options, self.seed, self.storage = strategy_options, seed, storage
        self.trials: list[Trial] = trials or []
        self.direction = direction

    @property
    def completed(self) -> list[Trial]:
        return [t for t in self.trials if t.status == "complete"]

    @property
    def sign(self) -> float:
        """-1 when the study maximizes: what values are multiplied by for the strategies and
        pruners, which always minimize."""
        return -1.0 if self.direction == "maximize" else 1.0

    @property
    def best_trial(self) -> Trial | None:
        """The complete trial with the lowest value (the highest when maximizing;
        earliest on ties), or None."""
        done = [t for t in self.completed if t.value is not None]
        return min(done, key=lambda t: (self.sign * t.value, t.number)) if done else None

    @property
    def best_params(self) -> dict | None:
        b = self.best_trial
        return None if b is None else dict(b.params)

    @property
    def best_value(self) -> float | None:
        b = self.best_trial
        return None if b is None else b.value

    def counts(self) -> dict[str, int]:
        return {s: sum(t.status == s for t in self.trials) for s in STATUSES}

    def observed(self) -> list[Observed]:
        """The trials as strategies see them (values to minimize)."""
        return [Observed(t.number, t.params, t.status, self.sign * t.value
                         if t.status in ("complete", "pruned") and t.value is not None else None)
                for t in self.trials]

    def to_records(self) -> list[dict]:
        """One flat dict per trial: ``number, status, value, budget, <each parameter>,
        steps`` (reports), ``started, finished, duration, error`` - for CSV or pandas."""
        return [{"number": t.number, "status": t.status, "value": t.value, "budget": t.budget,
                 **{n: t.params.get(n) for n in self.space.names}, "steps": len(t.intermediate),
                 "started": t.started, "finished": t.finished, "duration": t.duration, "error": t.error}
                for t in self.trials]

    def to_csv(self) -> str:
        """:meth:`to_records` as CSV text (a header row, then one row per trial)."""
        records = self.to_records()
        buf = io.StringIO()
        fields = list(records[0]) if records else ["number", "status", "value", "budget", *self.space.names]
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        return buf.getvalue()

    def table(self, last: int | None = None):
        """A rich ``Table`` of the trials (the ``last`` ones if given), best marked."""
        from rich.table import Table

        best = self.best_trial
        has_budget = any(t.budget is not None for t in self.trials)
        table = Table(title=f"study {self.name!r} ({self.strategy}, {self.direction})", show_lines=False)
        for col in ["#", "status", "value"] + (["budget"] if has_budget else []) + self.space.names + ["time"]:
            table.add_column(col, justify="left" if col == "status" else "right")
        for t in self.trials if last is None else self.trials[-last:]:
            status = t.status + (f" ({_short(t.error)})" if t.error and t.status == "failed" else "")
            cells = [str(t.number), status, _fmt(t.value)] + ([_fmt(t.budget)] if has_budget else [])
            cells += [_fmt(t.params.get(n)) for n in self.space.names]
            cells.append("" if t.duration is None else f"{t.duration:.2f}s")
            table.add_row(*cells, style="bold green" if best is not None and t.number == best.number else None)
        c = self.counts()
        table.caption = (f"{len(self.trials)} trials: {c['complete']} complete, {c['failed']} failed, "
                         f"{c['pruned']} pruned, {c['running']} running"
                         + (f" | best #{best.number}: {_fmt(best.value)}" if best else ""))
        return table

    def __repr__(self) -> str:
        return f"Study(name={self.name!r}, strategy={self.strategy!r}, trials={len(self.trials)})"


def _short(text: str, n: int = 40) -> str:
    line = text.strip().splitlines()[-1] if text.strip() else ""
    return line if len(line) <= n else line[: n - 1] + "…"


def _fmt(v: Any) -> str:
    if v is None:
        return ""
    return f"{v:.6g}" if isinstance(v, float) else str(v)


# --------------------------------------------------------------------------- executing


def _result(trial: Trial, status: str, error: str | None, value: float | None = None) -> dict:
    return {"status": status, "value": value, "intermediate": trial.intermediate, "error": bound_text(error),
            "started": trial.started, "finished": time.time()}


def _execute(objective: Callable[[Trial], float], trial: Trial, timeout: float | None = None) -> dict:
    """Run one trial; never raises an ``Exception`` or ``SystemExit`` (failures become
    results). With ``timeout`` in a main thread, a timer interrupts the objective.
    Module level so that executors can pickle it."""
    trial.started = time.time()
    timer = timeout is not None and hasattr(signal, "setitimer") and \
        threading.current_thread() is threading.main_thread()
    if timer:
        def expire(signum, frame):
            raise _Timeout()

        previous = signal.signal(signal.SIGALRM, expire)
        signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        try:
            result = objective(trial)
        finally:
            if timer:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
        value = clean_value(result)
        if timeout is not None and time.time() - trial.started > timeout:
            return _result(trial, "failed", f"timed out: took {time.time() - trial.started:.3g} s, "
                           f"over the timeout of {timeout:g} s")
        if value is None:
            return _result(trial, "failed", f"objective returned {result!r}, not a finite number")
        return _result(trial, "complete", None, value)
    except _Timeout:
        return _result(trial, "failed", f"timed out after {timeout:g} s (the trial's timeout)")
    except TrialPruned as exc:
        last = trial.intermediate[-1][1] if trial.intermediate else None
        return _result(trial, "pruned", str(exc) or None, clean_value(last))
    except (Exception, SystemExit) as exc:  # a failed trial must not end the search
        return _result(trial, "failed", f"{type(exc).__name__}: {exc}\n" + traceback.format_exc(limit=-3))
    finally:
        if trial._conn is not None:
            trial._conn.close()
            trial._conn = None


class _Display:
    """Live rich table on a terminal; one line per trial on a non-terminal
    console that was passed in; silent otherwise."""

    def __init__(self, console: Any):
        self.console, self.live = console, None
        if console is None:
            import sys

            if sys.stdout.isatty():
                from rich.console import Console

                self.console = Console()
        self.mode = ("off" if self.console is None else
                     "live" if self.console.is_terminal else "lines")

    def start(self, study: Study) -> None:
        if self.mode == "live":
            from rich.live import Live

            # auto_refresh=False: no refresh thread, so forking worker processes stays safe
            self.live = Live(study.table(last=20), console=self.console, auto_refresh=False)
            self.live.start()

    def trial_end(self, study: Study, trial: Trial) -> None:
        if self.mode == "live":
            self.live.update(study.table(last=20), refresh=True)
        elif self.mode == "lines":
            best = study.best_trial
            params = ", ".join(f"{k}={_fmt(v)}" for k, v in trial.params.items())
            why = (trial.error or "").strip().splitlines()[:1] if trial.status == "failed" else []
            self.console.print(f"trial {trial.number} {trial.status} value={_fmt(trial.value)} {params}"
                               + (f" | {why[0]}" if why else "")
                               + (f" | best #{best.number} {_fmt(best.value)}" if best else ""),
                               markup=False, highlight=False)

    def stop(self, study: Study) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None
        best = study.best_trial
        if self.mode != "off" and best is not None:
            self.console.print(f"best trial #{best.number}: value={_fmt(best.value)} params={best.params}",
                               markup=False, highlight=False)


def _exit_with_parent(parent: int) -> None:
    """Initializer of the pool's workers: a daemon thread ends the worker once its driver is
    gone (killed, the pool cannot tell it), so no orphan goes on computing or holds its pipes."""
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, daemon=True).start()


def dask_address_problem(executor: str) -> str | None:
    """What is wrong with a ``"dask://host:port"`` executor string (``None``: nothing)."""
    host, sep, port = executor[len("dask://"):].rpartition(":")
    if not sep or not host:
        return f"{executor!r} has no host:port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"the port {port!r} is not an integer in 1..65535"
    return None


def _route_ip(host: str) -> str:
    """This machine's address on the route to ``host`` (where Dask workers can reach us)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((host, 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1"


def _make_executor(executor: Any, workers: int | None) -> tuple[Any, int, Callable[[bool], None], Any, str]:
    """-> (executor or None, trials in flight, shutdown(wait), remake() or None, link host).

    ``remake`` replaces a broken process pool (a worker process died); ``None`` for
    executors the runner did not create."""
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers={workers!r} is invalid: must be an integer >= 1")
    if executor is None:
        if workers not in (None, 1):
            raise ValueError(f"workers={workers!r} needs an executor: pass executor='process' "
                             "(or a concurrent.futures.Executor, or 'dask://host:port')")
        return None, 1, lambda wait: None, None, ""
    if isinstance(executor, Executor):
        n = workers or getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        return executor, n, lambda wait: None, None, "127.0.0.1"
    if executor == "process":
        n = workers or os.cpu_count() or 1
        pools: list[ProcessPoolExecutor] = []

        def remake() -> ProcessPoolExecutor:
            if pools:
                pools[-1].shutdown(wait=False, cancel_futures=True)
            pools.append(ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_exit_with_parent, initargs=(os.getpid(),)))
            return pools[-1]

        return remake(), n, lambda wait: pools[-1].shutdown(wait=wait, cancel_futures=True), remake, "127.0.0.1"
    if isinstance(executor, str) and executor.startswith("dask://"):
        problem = dask_address_problem(executor)
        if problem:
            raise ValueError(f"executor={executor!r} is invalid: a Dask scheduler is 'dask://host:port' "
                             f"with an integer port in 1..65535; {problem}")
        host = executor[len("dask://"):].rpartition(":")[0]
        try:
            from distributed import Client as DaskClient
        except ImportError:
            raise ImportError("executor='dask://...' needs the optional dependency 'distributed': "
                              "pip install 'tinygrad-init[distributed]'") from None
        try:
            client = DaskClient("tcp://" + executor[len("dask://"):], timeout=30)
        except OSError as exc:
            raise OSError(f"executor={executor!r}: cannot connect to the Dask scheduler: {exc}") from None
        ex = client.get_executor()

        def shutdown(wait: bool) -> None:
            ex.shutdown(wait=False)
            client.close()

        return ex, workers or max(1, sum(client.nthreads().values())), shutdown, None, _route_ip(host)
    raise ValueError(f"executor={executor!r} is invalid: must be None (in process), 'process', "
                     "'dask://host:port' or a concurrent.futures.Executor")


class _Link:
    """Where trials running elsewhere report: a socket server in the driver
    (``multiprocessing.connection`` with a fresh authentication key per search)."""

    def __init__(self, host: str, judge: Callable[[int, int, float | None, bool], bool]):
        self.key, self.judge, self.closed = os.urandom(16), judge, False
        self.listener = Listener((host, 0), authkey=self.key)
        self.address = self.listener.address
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                conn = self.listener.accept()
            except Exception:  # a client with the wrong key, or the listener closed
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: Any) -> None:
        with conn:
            while True:
                try:
                    number, step, value = conn.recv()
                except (EOFError, OSError, ValueError, TypeError):
                    return
                try:
                    answer = self.judge(number, step, value, True)
                except Exception as exc:  # a pruner bug must not kill the link
                    warnings.warn(f"search: judging a report of trial {number} failed: {exc!r}", RuntimeWarning)
                    answer = False
                conn.send(bool(answer))

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            Client(self.address, authkey=self.key).close()  # wakes accept() up
        self.listener.close()


# --------------------------------------------------------------------------- the loop


class _Search:
    """One run of the driver over an opened study; ``loop()`` is the whole of it."""

    def __init__(self, objective, study: Study, strat: Strategy, pruner: Pruner | None, store: Storage,
                 study_id: int, pm, display: _Display, ex, slots: int, remake, n_trials: int,
                 timeout: float | None, link_host: str):
        self.objective, self.study, self.strat, self.pruner = objective, study, strat, pruner
        self.store, self.study_id, self.pm, self.display = store, study_id, pm, display
        self.ex, self.slots, self.remake, self.n_trials, self.timeout = ex, slots, remake, n_trials, timeout
        self.lock = threading.RLock()  # the driver's threads (the link's) share the storage and the study
        self.link = _Link(link_host, self.judge) if ex is not None else None
        self.inflight: dict[Any, Trial] = {}
        self.suspects: list[Trial] = []  # in flight when a worker process died: re-run one at a time
        self.isolating: set[int] = set()  # their numbers, until each has run alone

    def judge(self, number: int, step: int, value: float | None, remote: bool) -> bool:
        with self.lock:
            t = self.study.trials[number]
            if remote:
                t.intermediate.append((step, math.nan if value is None else value))
            return self.pruner is not None and bool(self.pruner.prune(self.study, t))

    def propose(self) -> Trial | None:
        number = len(self.study.trials)
        try:
            params = self.strat(self.study.observed(), number)
        except SearchExhausted:
            return None
        params = self.study.space.check(json.loads(json.dumps(dict(params))),
                                        f"strategy {self.study.strategy!r}: the proposal for trial {number}")
        t = Trial(number, params, getattr(self.pruner, "budget", None), started=time.time(), attempts=1)
        with self.lock:
            self.store.add_trial(self.study_id, number, params, t.budget, t.started)
            self.study.trials.append(t)
        return t

    def start(self, t: Trial, again: bool) -> Any:
        if again:  # left running by an interruption, or by a pool that broke: a new attempt
            t.started, t.intermediate = time.time(), []
            t.attempts += 1
            with self.lock:
                self.store.restart_trial(self.study_id, t.number, t.started)
        self.pm.hook.tinygrad_init_trial_start(study=self.study, trial=t)
        if self.ex is None:
            t._judge = self.judge
            try:
                self.finish(t, _execute(self.objective, t, self.timeout))
            finally:
                t._judge = None
            return None
        remote = Trial(t.number, t.params, t.budget, attempts=t.attempts)
        remote._link = (self.link.address, self.link.key)
        return self.ex.submit(_execute, self.objective, remote, self.timeout)

    def finish(self, t: Trial, result: dict) -> None:
        with self.lock:
            t.status, t.value, t.error = result["status"], result["value"], result["error"]
            t.intermediate = [(int(s), v) for s, v in result["intermediate"]]
            t.started, t.finished = result["started"], result["finished"]
            self.store.finish_trial(self.study_id, t.number, status=t.status, value=t.value,
                                    intermediate=t.intermediate, started=t.started, finished=t.finished,
                                    error=t.error)
        self.pm.hook.tinygrad_init_trial_end(study=self.study, trial=t)
        self.display.trial_end(self.study, t)

    def fail(self, t: Trial, error: str) -> None:
        self.finish(t, {"status": "failed", "value": None, "intermediate": t.intermediate, "error": error,
                        "started": t.started, "finished": time.time()})

    def loop(self, todo: list[Trial]) -> None:
        exhausted = False
        while True:
            alone = bool(self.suspects) or any(t.number in self.isolating for t in self.inflight.values())
            while len(self.inflight) < (1 if alone else self.slots):
                t, again = None, True
                if self.suspects or todo:
                    t = (self.suspects or todo).pop(0)
                elif not exhausted and len(self.study.trials) < self.n_trials:
                    t, again = self.propose(), False
                    exhausted = t is None
                if t is None:
                    break
                try:
                    fut = self.start(t, again)
                except BrokenExecutor:  # the pool broke before it took the trial: it did not start
                    todo.insert(0, t)
                    if self.inflight:
                        break  # the trials in it fail with it and are looked into below
                    self.ex = self._remade([t])
                    continue
                if fut is not None:
                    self.inflight[fut] = t
                alone = alone or t.number in self.isolating
            if not self.inflight:
                return
            self.collect()

    def collect(self) -> None:
        deadline = None if self.timeout is None else min(
            t.started for t in self.inflight.values()) + self.timeout + GRACE
        done, _ = wait(list(self.inflight), timeout=None if deadline is None else max(0.0, deadline - time.time()),
                       return_when=FIRST_COMPLETED)
        broken, cause = [], None
        for fut in sorted(done, key=lambda f: self.inflight[f].number):
            t = self.inflight.pop(fut)
            try:
                result = fut.result()
            except BrokenExecutor as exc:  # a worker process died: the pool fails every trial in it
                broken.append(t)
                cause = exc
                continue
            except Exception as exc:  # the executor could not run it (pickling, a lost Dask worker)
                result = _result(t, "failed", f"executor error: {type(exc).__name__}: {exc}")
            self.isolating.discard(t.number)
            self.finish(t, result)
        for fut, t in list(self.inflight.items()):  # past its timeout and not interrupted (threads, Dask)
            if self.timeout is not None and time.time() > t.started + self.timeout + GRACE:
                del self.inflight[fut]
                fut.cancel()
                self.fail(t, f"timed out after {self.timeout:g} s (the trial's timeout; the driver gave up "
                             "on it: its executor cannot interrupt it)")
        if broken:
            broken += self.inflight.values()
            self.inflight.clear()
            self.ex = self._remade(broken, cause)
            if len(broken) == 1:  # it ran alone: it took its process down
                self.isolating.discard(broken[0].number)
                self.fail(broken[0], f"its worker process died while it ran alone ({type(cause).__name__}: "
                                     f"{cause}); e.g. out of memory, a crash in native code, or os._exit")
            else:
                self.suspects += sorted(broken, key=lambda t: t.number)
                self.isolating |= {t.number for t in broken}

    def _remade(self, waiting: list[Trial], cause: BaseException | None = None) -> Executor:
        """A new process pool for a broken one; an executor the runner did not make cannot be."""
        if self.remake is None:
            raise RuntimeError(f"the executor {self.ex!r} is broken" + (f" ({type(cause).__name__}: {cause})"
                               if cause else "") + f"; trials {sorted(t.number for t in waiting)} stay 'running' "
                               "and are re-run when the same search is started again with a working executor")
        return self.remake()


# --------------------------------------------------------------------------- run


def _strategy_key(strategy: Any) -> str:
    if isinstance(strategy, str):
        return strategy
    if isinstance(strategy, Strategy):
        raise TypeError("strategy must be a registered name or a factory (e.g. a Strategy subclass), "
                        "not an instance: the runner builds it from the seed")
    if not callable(strategy):
        raise TypeError(f"strategy={strategy!r} is invalid: must be a name or a factory")
    return f"{strategy.__module__}:{strategy.__qualname__}"


def _build(kind: str, what: Any, args: tuple, options: dict, given: tuple = ()) -> Any:
    """Build a strategy or pruner; an option it does not take is a ``TypeError`` listing the
    ones it does (not those the runner passes itself: ``given``)."""
    import difflib
    import inspect

    from ..registry import check_signature, get_registry

    factory = get_registry().get(kind, what).factory if isinstance(what, str) else what
    label = f"{kind.replace('_', ' ').replace('search ', '')} {what if isinstance(what, str) else _strategy_key(what)!r}"
    try:
        params = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        params = None
    if params is not None and not any(p.kind is p.VAR_KEYWORD for p in params):
        names = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)][len(args):]
        names = [n for n in names if n not in given]
        for key in options:
            if key not in names and key not in given:
                close = difflib.get_close_matches(key, names, n=1)
                raise TypeError(f"{label} has no option {key!r}; " + (f"did you mean {close[0]!r}? " if close else "")
                                + (f"its options are: {', '.join(names)}" if names else "it takes no options"))
    check_signature(label, factory, args, options)
    return factory(*args, **options)


def _check_same(existing: dict, space: Space, key: str, options: dict, seed: Any, path: str, name: str,
                direction: str = "minimize") -> None:
    diffs = []
    if existing["direction"] != direction:
        diffs.append(f"direction {existing['direction']!r} (now {direction!r})")
    if list(existing["space"].items()) != list(space.to_dict().items()):  # the order is part of it
        diffs.append(f"space {existing['space']} (now {space.to_dict()})")
    if existing["strategy"] != key:
        diffs.append(f"strategy {existing['strategy']!r} (now {key!r})")
    if existing["strategy_options"] != options:
        diffs.append(f"strategy options {existing['strategy_options']} (now {options})")
    if existing["seed"] != seed:
        diffs.append(f"seed {existing['seed']!r} (now {seed!r})")
    if diffs:
        raise ValueError(f"study {name!r} in {path!r} was created with another " + "; ".join(diffs)
                         + ". Use another study name or storage file; the file was not changed.")


@contextlib.contextmanager
def _argument(name: str):
    """Errors raised inside name the ``run`` argument they are about (``exc.argument``), so the
    command line can prefix them with the config field."""
    try:
        yield
    except (ValueError, TypeError, LookupError, OSError, ImportError) as exc:
        if getattr(exc, "argument", None) is None:
            exc.argument = name
        raise


def _loaded(records: list[dict]) -> list[Trial]:
    return [Trial(r["number"], r["params"], r["budget"], status=r["status"], value=r["value"],
                  intermediate=r["intermediate"], error=r["error"], started=r["started"], finished=r["finished"],
                  attempts=r["attempts"]) for r in records]


def run(objective: Callable[[Trial], float], space: Space | Mapping[str, Any], strategy: Any = "bayes",
        n_trials: int = 20, storage: str | os.PathLike | None = None, study: str = "default",
        executor: Any = None, workers: int | None = None, seed: int | None = 0,
        strategy_options: Mapping[str, Any] | None = None, callbacks: Iterable[Any] = (),
        console: Any = None, direction: str = "minimize", pruner: Any = None,
        pruner_options: Mapping[str, Any] | None = None, timeout: float | None = None,
        max_retries: int = 2) -> Study:
    """Search ``space`` for the configuration minimizing ``objective``.

    :param objective: ``objective(trial) -> float`` (lower is better); reads
        ``trial.params`` (and ``trial.budget``), may call ``trial.report(step, value)``
        and raise ``TrialPruned`` when ``trial.should_prune()``. An exception (``SystemExit``
        included) or a non-finite value makes the trial ``failed`` and the search goes on.
        With a process or Dask executor it must be picklable (a module-level function).
    :param space: a :class:`Space` (or a dict of dimensions).
    :param strategy: a registered strategy name (``"random"``, ``"grid"``, ``"manual"``,
        ``"bayes"``, ``"tpe"``...) or a factory ``factory(space, seed=None, **options)``.
    :param n_trials: the total number of trials the study should have (a resumed
        study runs only the missing ones); fewer if the strategy is exhausted.
    :param storage: ``"sqlite:///study.db"``, a path, or ``None`` (in memory).
    :param study: the study name inside the storage.
    :param executor: ``None`` (in this process), ``"process"`` (a spawn-based process pool
        of ``workers``), ``"dask://host:port"`` (a Dask ``distributed`` cluster) or any
        ``concurrent.futures.Executor``. Pruning works on every one of them.
    :param workers: trials kept in flight (default: the executor's workers).
    :param seed: the strategy's seed (part of the study's identity).
    :param strategy_options: the strategy's hyperparameters (JSON-able).
    :param callbacks: objects implementing ``tinygrad_init_trial_start``/``_end``.
    :param console: a rich ``Console`` for the live table (default: stdout when
        it is a terminal, else silent).
    :param direction: ``"minimize"`` (the objective is a loss) or ``"maximize"`` (e.g. an
        accuracy); part of the study's identity. Strategies and pruners always minimize:
        they see maximized values negated; stored values keep the objective's sign.
    :param pruner: ``None``, a registered pruner name (``"hyperband"``,
        ``"successive_halving"``, ``"median"``) or a factory ``factory(**options)``.
    :param pruner_options: the pruner's hyperparameters.
    :param timeout: seconds a trial may run; then it is ``failed`` ("timed out").
    :param max_retries: how often a trial left ``running`` by an interrupted search is
        started again; a trial found ``running`` after ``1 + max_retries`` starts is
        ``failed`` instead.
    :return: the :class:`Study` with every trial.
    :raises ValueError: the study exists with another space, strategy, options, seed or
        direction (the file is left untouched); ``StorageError`` if the storage cannot be
        written (before any trial runs). Errors carry ``.argument``, the argument at fault.
    """
    with _argument("space"):
        space = space if isinstance(space, Space) else Space(space)
    for name, value, ok in (("n_trials", n_trials, "an integer >= 0"), ("max_retries", max_retries, "an integer >= 0")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _tag(ValueError(f"{name}={value!r} is invalid: must be {ok}"), name)
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not timeout > 0 or not math.isfinite(timeout)):
        raise _tag(ValueError(f"timeout={timeout!r} is invalid: must be a number of seconds > 0 (or None)"), "timeout")
    if not isinstance(study, str) or not study:
        raise _tag(ValueError(f"study={study!r} is invalid: must be a non-empty name"), "study")
    if not callable(objective):
        raise _tag(TypeError(f"objective={objective!r} is invalid: must be a callable objective(trial) -> float"),
                   "objective")
    if direction not in ("minimize", "maximize"):
        raise _tag(ValueError(f"direction={direction!r} is invalid: must be 'minimize' or 'maximize'"), "direction")
    options = dict(strategy_options or {})
    with _argument("strategy_options"):
        try:
            options_json = json.loads(json.dumps(options, sort_keys=True))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"strategy_options={options!r} must be JSON-able (they are stored): {exc}") from None
    with _argument("strategy"):
        key = _strategy_key(strategy)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise _tag(ValueError(f"seed={seed!r} is invalid: must be an integer >= 0 or None"), "seed")
    for k, hint in (("seed", "it is run(seed=...)"), ("space", "it is run(space=...)")):
        if k in options:
            raise _tag(ValueError(f"strategy_options: {k}={options[k]!r} is not a strategy option: {hint}"),
                       "strategy_options")
    with _argument("strategy" if isinstance(strategy, str) else "strategy_options"):
        if isinstance(strategy, str):
            from ..registry import get_registry

            get_registry().get("search_strategy", strategy)  # an unknown name is the strategy's fault
    with _argument("strategy_options"):
        strat = _build("search_strategy", strategy, (space,), {"seed": seed, **options}, given=("seed",))
    with _argument("pruner"):
        if isinstance(pruner, str):
            from ..registry import get_registry

            get_registry().get("pruner", pruner)
    with _argument("pruner_options"):
        prune = None if pruner is None else _build("pruner", pruner, (), dict(pruner_options or {}))
    if executor == "process" or isinstance(executor, ProcessPoolExecutor) or str(executor).startswith("dask://"):
        try:
            pickle.dumps(objective)
        except Exception as exc:
            raise _tag(TypeError(f"executor={executor!r} needs a picklable objective (a module-level function), "
                                 f"got {objective!r}: {exc}"), "executor") from None

    # the executor first: a bad one (or an unreachable Dask scheduler) leaves the storage untouched
    with _argument("workers" if executor is None else "executor"):
        ex, slots, shutdown, remake, host = _make_executor(executor, workers)
    finished = False
    try:
        with _argument("storage"):
            store = Storage(storage)
        try:
            with _argument("storage"):
                existing = store.get_study(study)
                if existing is None:  # None again if another process created it just now: then check it
                    study_id = store.create_study(study, space.to_dict(), key, options_json, seed, direction)
                    existing = None if study_id is not None else store.get_study(study)
                if existing is not None:
                    _check_same(existing, space, key, options_json, seed, store.path, study, direction)
                    study_id = existing["id"]
                store.lock_study(study_id, study)  # one driver per study: a second one is refused
                store.migrate()
                the_study = Study(study, space, key, options_json, seed, store.url,
                                  _loaded(store.trials(study_id, study)), direction)
            display = _Display(console)
            search = _Search(objective, the_study, strat, prune, store, study_id, lifecycle_manager(callbacks),
                             display, ex, slots, remake, n_trials, timeout, host)
            todo = []
            for t in the_study.trials:
                if t.status == "running" and t.attempts > max_retries:
                    search.fail(t, f"left 'running' by {t.attempts} interrupted attempts (each search started "
                                   f"again retries it at most max_retries={max_retries} times)")
                elif t.status == "running":
                    todo.append(t)
            display.start(the_study)
            try:
                search.loop(todo)
                finished = True
            finally:
                display.stop(the_study)
                if search.link is not None:
                    search.link.close()
        finally:
            store.close()
    finally:
        shutdown(finished)  # interrupted: do not wait for running trials (they stay 'running')
    return the_study


def _tag(exc: BaseException, argument: str) -> BaseException:
    exc.argument = argument
    return exc


def load_study(storage: str | os.PathLike, study: str | None = None) -> Study:
    """Read a study back from ``storage`` (``study`` may be omitted when the file
    holds exactly one). Raises ``ValueError`` listing the names otherwise."""
    p = parse_url(storage)
    if p != ":memory:" and not os.path.isfile(p):
        raise StorageError(f"no study file at {p!r}")
    store = Storage(storage, readonly=True)  # reading never writes
    try:
        names = store.study_names()
        if study is None:
            if len(names) != 1:
                exc = ValueError(f"{p!r} holds {len(names)} studies ({', '.join(names) or 'none'}): name one: "
                                 "load_study(path, study=NAME)")
                exc.studies = names
                raise exc
            study = names[0]
        row = store.get_study(study)
        if row is None:
            raise ValueError(f"no study {study!r} in {p!r}; studies: {', '.join(names) or '(none)'}")
        try:
            space = Space.from_dict(row["space"])
        except (ValueError, TypeError) as exc:
            raise StorageError(f"study storage {p!r}, study {study!r}: the stored space is invalid: {exc}") from None
        return Study(study, space, row["strategy"], row["strategy_options"], row["seed"], store.url,
                     _loaded(store.trials(row["id"], study)), row["direction"])
    finally:
        store.close()
