"""The search runner: asks a strategy, runs trials (in process or on an executor),
records every trial in SQLite from the driver process, and resumes.

``run(objective, space, ...)`` is the entry point; ``load_study(storage)`` reads
a study back. See docs/search.md for the storage schema and resume semantics.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import pickle
import threading
import time
import traceback
import warnings
from concurrent.futures import (FIRST_COMPLETED, BrokenExecutor, Executor, ProcessPoolExecutor,
                                ThreadPoolExecutor, wait)
from multiprocessing.managers import BaseManager
from typing import Any, Callable, Iterable, Mapping

from ..hookspecs import hookimpl
from ..registry import lifecycle_manager
from .space import Space
from .storage import Storage, StorageError
from .strategy import Proposal, Strategy, clean_value

STATUSES = ("running", "complete", "failed", "pruned")


class TrialPruned(Exception):
    """Raise from an objective (or a callback inside it) to stop a trial early.

    The trial is recorded as ``pruned`` with its last reported value."""


class Trial:
    """One evaluation of the objective.

    Attributes: ``number`` (0-based, unique in the study), ``params`` (dict),
    ``budget`` (resource budget from budgeted strategies such as Hyperband, else
    ``None``), ``bracket`` (the strategy's group for pruning, e.g. a Hyperband
    bracket; not stored), ``status``, ``value``, ``intermediate`` (list of
    ``(step, value)``), ``error`` (text of a failure), ``started``/``finished``
    (Unix times).

    Inside an objective use :meth:`report` and :meth:`should_prune`.
    """

    def __init__(self, number: int, params: Mapping[str, Any], budget: Any = None, *,
                 bracket: Any = None, status: str = "running", value: float | None = None,
                 intermediate: Iterable[tuple[int, float]] = (), error: str | None = None,
                 started: float | None = None, finished: float | None = None):
        self.number, self.params, self.budget, self.bracket = number, dict(params), budget, bracket
        self.status, self.value, self.error = status, value, error
        self.intermediate = [(int(s), v) for s, v in intermediate]
        self.started, self.finished = started, finished
        self._strategy: Strategy | None = None  # set for trials running in the driver process
        self._board: Any = None  # a link to the strategy's pruning board (trials on workers)
        self._prune = False  # the judgment of the last report
        self._sign = 1.0  # -1 when the study maximizes: strategies always minimize

    def report(self, step: int, value: float) -> None:
        """Record an intermediate ``value`` (e.g. the validation loss) at ``step``
        (e.g. the epoch). Stored with the trial; the strategy judges it at once
        (in the driver, or through the runner's link from a process pool), and
        :meth:`should_prune` returns that judgment."""
        v = clean_value(value)
        self.intermediate.append((int(step), float("nan") if v is None else v))
        if self._strategy is not None:
            self._prune = bool(self._strategy.should_prune(self, int(step), self._sign * self.intermediate[-1][1]))
        elif self._board is not None:
            self._prune = bool(self._board.report(self.number, self.bracket, len(self.intermediate),
                                                  None if v is None else self._sign * v))

    def should_prune(self) -> bool:
        """Whether the strategy wants this trial stopped, given its last report.

        ``False`` before the first report, and when the trial has no live link to
        the strategy (a Dask or other executor, see docs/search.md). Raise
        :class:`TrialPruned` when it is ``True``."""
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
        state = dict(self.__dict__)
        state["_strategy"] = None  # the board link (a Manager proxy) travels to the worker
        return state


class PruningCallback:
    """Trainer callback that reports ``logs[monitor]`` at every epoch end to
    ``trial`` and raises :class:`TrialPruned` when ``trial.should_prune()``.

    ``Trainer(..., callbacks=[PruningCallback(trial, "val_loss")])`` inside an
    objective. Live pruning works in the driver process (``executor=None``), and
    in a process or thread pool for strategies with a pruning board (Hyperband).
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
        """-1 when the study maximizes: what values are multiplied by for the
        strategies, which always minimize."""
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

    def table(self, last: int | None = None):
        """A rich ``Table`` of the trials (the ``last`` ones if given), best marked."""
        from rich.table import Table

        best = self.best_trial
        table = Table(title=f"study {self.name!r} ({self.strategy}, {self.direction})", show_lines=False)
        table.add_column("#", justify="right")
        table.add_column("status")
        table.add_column("value", justify="right")
        if any(t.budget is not None for t in self.trials):
            table.add_column("budget", justify="right")
        for n in self.space.names:
            table.add_column(n, justify="right")
        table.add_column("time", justify="right")
        rows = self.trials if last is None else self.trials[-last:]
        has_budget = any(t.budget is not None for t in self.trials)
        for t in rows:
            style = "bold green" if best is not None and t.number == best.number else None
            status = t.status + (f" ({_short(t.error)})" if t.error and t.status == "failed" else "")
            cells = [str(t.number), status, _fmt(t.value)]
            if has_budget:
                cells.append("" if t.budget is None else _fmt(t.budget))
            cells += [_fmt(t.params.get(n)) for n in self.space.names]
            cells.append("" if t.duration is None else f"{t.duration:.2f}s")
            table.add_row(*cells, style=style)
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
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


# --------------------------------------------------------------------------- executing


def _execute(objective: Callable[[Trial], float], trial: Trial) -> dict:
    """Run one trial; never raises an ``Exception`` (failures become results).
    Module level so that executors can pickle it."""
    trial.started = time.time()
    status, value, error = "complete", None, None
    try:
        result = objective(trial)
        value = clean_value(result)
        if value is None:
            status, error = "failed", f"objective returned {result!r}, not a finite number"
    except TrialPruned as exc:
        status, error = "pruned", str(exc) or None
        value = trial.intermediate[-1][1] if trial.intermediate else None
    except Exception as exc:  # a failed trial must not end the search
        status = "failed"
        error = f"{type(exc).__name__}: {exc}\n" + "".join(traceback.format_exc(limit=-3))
    return {"status": status, "value": clean_value(value), "intermediate": trial.intermediate,
            "error": error, "started": trial.started, "finished": time.time()}


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
        if self.mode != "off":
            best = study.best_trial
            if best is not None:
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
    """What is wrong with a ``"dask://host:port"`` executor string (``None``: nothing);
    the runner and the CLI (naming its own field) both use it."""
    host, sep, port = executor[len("dask://"):].rpartition(":")
    if not sep or not host:
        return f"{executor!r} has no host:port"
    if not port.isdigit() or not 0 < int(port) < 65536:
        return f"the port {port!r} is not an integer in 1..65535"
    return None


def _make_executor(executor: Any, workers: int | None
                   ) -> tuple[Executor | None, int, Callable[[bool], None], Callable[[], Executor] | None]:
    """-> (executor or None, number of trials to keep in flight, shutdown(wait), remake()).

    ``remake`` replaces a broken process pool (a worker process died) and is ``None``
    for executors the runner did not create."""
    if executor is None:
        if workers not in (None, 1):
            raise ValueError(f"workers={workers!r} needs an executor: pass executor='process' "
                             "(or a concurrent.futures.Executor, or 'dask://host:port')")
        return None, 1, lambda wait: None, None
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ValueError(f"workers={workers!r} is invalid: must be an integer >= 1")
    if isinstance(executor, Executor):
        n = workers or getattr(executor, "_max_workers", None) or os.cpu_count() or 1
        return executor, n, lambda wait: None, None
    if executor == "process":
        n = workers or os.cpu_count() or 1

        def new_pool() -> ProcessPoolExecutor:
            return ProcessPoolExecutor(max_workers=n, mp_context=multiprocessing.get_context("spawn"),
                                       initializer=_exit_with_parent, initargs=(os.getpid(),))

        pools = [new_pool()]

        def remake() -> ProcessPoolExecutor:
            pools[-1].shutdown(wait=False, cancel_futures=True)
            pools.append(new_pool())
            return pools[-1]

        return pools[0], n, lambda wait: pools[-1].shutdown(wait=wait, cancel_futures=True), remake
    if isinstance(executor, str) and executor.startswith("dask://"):
        problem = dask_address_problem(executor)
        if problem:
            raise ValueError(f"executor={executor!r} is invalid: a Dask scheduler is 'dask://host:port' "
                             f"with an integer port in 1..65535; {problem}")
        address = "tcp://" + executor[len("dask://"):]
        try:
            from distributed import Client
        except ImportError:
            raise ImportError("executor='dask://...' needs the optional dependency 'distributed': "
                              "pip install 'tinygrad-init[distributed]'") from None
        try:
            client = Client(address, timeout=30)
        except OSError as exc:
            raise OSError(f"executor={executor!r}: cannot connect to the Dask scheduler at {address}: {exc}") from None
        n = workers or max(1, sum(client.nthreads().values()))
        ex = client.get_executor()

        def shutdown(wait: bool) -> None:
            ex.shutdown(wait=False)
            client.close()

        return ex, n, shutdown, None
    raise ValueError(f"executor={executor!r} is invalid: must be None (in process), 'process', "
                     "'dask://host:port' or a concurrent.futures.Executor")


class _Shared:
    """A strategy's pruning board shared by concurrently running trials: one report at a time."""

    def __init__(self, board: Any):
        self.board, self.lock = board, threading.Lock()

    def report(self, number: int, bracket: Any, count: int, value: float | None) -> bool:
        with self.lock:
            return bool(self.board.report(number, bracket, count, value))


class _BoardManager(BaseManager):
    """Hosts a ``_Shared`` board in a server process that the pool's workers call."""


_BoardManager.register("Shared", _Shared)


def _link_board(strat: Strategy, ex: Any, key: str, executor: Any) -> tuple[Any, Callable[[], None]]:
    """-> (what trials on ``ex`` report to, or None; stop()). In the driver
    (``ex is None``) trials ask the strategy itself."""
    board = strat.pruning_board()
    if ex is None or (board is None and type(strat).should_prune is Strategy.should_prune):
        return None, lambda: None
    if board is not None and isinstance(ex, ThreadPoolExecutor):
        return _Shared(board), lambda: None
    if board is not None and isinstance(ex, ProcessPoolExecutor):  # its workers share our authkey
        manager = _BoardManager(ctx=multiprocessing.get_context("spawn"))
        manager.start(initializer=_exit_with_parent, initargs=(os.getpid(),))  # no orphan if we are killed
        return manager.Shared(board), manager.shutdown
    warnings.warn(f"search: strategy {key!r} cannot prune trials running on executor={executor!r} "
                  "(no live link to " + ("its pruning board" if board is not None else "the strategy")
                  + "): every trial runs its full budget", RuntimeWarning, stacklevel=3)
    return None, lambda: None


# --------------------------------------------------------------------------- run


def _strategy_key(strategy: Any) -> str:
    if isinstance(strategy, str):
        return strategy
    if isinstance(strategy, Strategy):
        raise TypeError("strategy must be a registered name or a factory (e.g. a Strategy subclass), "
                        "not an instance: the runner rebuilds it from the seed to resume")
    if not callable(strategy):
        raise TypeError(f"strategy={strategy!r} is invalid: must be a name or a factory")
    return f"{strategy.__module__}:{strategy.__qualname__}"


def _build_strategy(strategy: Any, space: Space, seed: int | None, options: dict) -> Strategy:
    if isinstance(strategy, str):
        from ..registry import search_strategy

        return search_strategy(strategy, space, seed=seed, **options)
    from ..registry import check_signature

    check_signature(f"search strategy {_strategy_key(strategy)!r}", strategy, (space,),
                    {"seed": seed, **options})
    return strategy(space, seed=seed, **options)


def _jsonable(params: Mapping[str, Any]) -> dict:
    return json.loads(json.dumps(dict(params)))


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


def run(objective: Callable[[Trial], float], space: Space | Mapping[str, Any], strategy: Any = "bayes",
        n_trials: int = 20, storage: str | os.PathLike | None = None, study: str = "default",
        executor: Any = None, workers: int | None = None, seed: int | None = 0,
        strategy_options: Mapping[str, Any] | None = None, callbacks: Iterable[Any] = (),
        console: Any = None, direction: str = "minimize") -> Study:
    """Search ``space`` for the configuration minimizing ``objective``.

    :param objective: ``objective(trial) -> float`` (lower is better); reads
        ``trial.params`` (and ``trial.budget``), may call ``trial.report(step, value)``
        and raise ``TrialPruned`` when ``trial.should_prune()``. An exception or a
        non-finite value makes the trial ``failed`` and the search goes on. With a
        process or dask executor it must be picklable (a module-level function).
    :param space: a :class:`Space` (or a dict of dimensions).
    :param strategy: a registered strategy name (``"random"``, ``"grid"``,
        ``"manual"``, ``"hyperband"``, ``"bayes"``, ``"tpe"``...) or a factory
        ``factory(space, seed=None, **options)``.
    :param n_trials: the total number of trials the study should have (a resumed
        study runs only the missing ones); fewer if the strategy is exhausted.
    :param storage: ``"sqlite:///study.db"``, a path, or ``None`` (in memory).
    :param study: the study name inside the storage.
    :param executor: ``None`` (in this process), ``"process"`` (a spawn-based
        process pool of ``workers``), ``"dask://host:port"`` (a Dask
        ``distributed`` cluster) or any ``concurrent.futures.Executor``. Live
        pruning works in process, and in a process or thread pool for strategies
        with a pruning board (Hyperband); elsewhere a warning says trials run
        their full budget.
    :param workers: trials kept in flight (default: the executor's workers).
    :param seed: the strategy's seed (part of the study's identity).
    :param strategy_options: the strategy's hyperparameters (JSON-able).
    :param callbacks: objects implementing ``tinygrad_init_trial_start``/``_end``.
    :param console: a rich ``Console`` for the live table (default: stdout when
        it is a terminal, else silent).
    :param direction: ``"minimize"`` (the objective is a loss) or ``"maximize"``
        (e.g. an accuracy); part of the study's identity. Strategies always
        minimize: a maximized value is told to them (and judged for pruning) negated;
        the stored values, the table and ``best_trial`` keep the objective's own sign.
    :return: the :class:`Study` with every trial.
    :raises ValueError: the study exists with another space, strategy, options or
        seed (the file is left untouched); ``StorageError`` if the storage cannot
        be written (before any trial runs).
    """
    space = space if isinstance(space, Space) else Space(space)
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0:
        raise ValueError(f"n_trials={n_trials!r} is invalid: must be an integer >= 0")
    if not isinstance(study, str) or not study:
        raise ValueError(f"study={study!r} is invalid: must be a non-empty name")
    if not callable(objective):
        raise TypeError(f"objective={objective!r} is invalid: must be a callable objective(trial) -> float")
    if direction not in ("minimize", "maximize"):
        raise ValueError(f"direction={direction!r} is invalid: must be 'minimize' or 'maximize'")
    options = dict(strategy_options or {})
    try:
        options_json = json.loads(json.dumps(options, sort_keys=True))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"strategy_options={options!r} must be JSON-able (they are stored): {exc}") from None
    key = _strategy_key(strategy)
    strat = _build_strategy(strategy, space, seed, options)  # bad hyperparameters fail first
    if executor == "process":
        try:
            pickle.dumps(objective)
        except Exception as exc:
            raise TypeError(f"executor='process' needs a picklable objective (a module-level function), "
                            f"got {objective!r}: {exc}") from None

    # the executor first: a bad one (or an unreachable Dask scheduler) leaves the storage untouched
    ex, slots, shutdown, remake = _make_executor(executor, workers)
    finished, stop_board = False, lambda: None
    try:
        store = Storage(storage)
        try:
            existing = store.get_study(study)
            if existing is None:  # None again if another process created it just now: then check it
                study_id = store.create_study(study, space.to_dict(), key, options_json, seed, direction)
                existing = None if study_id is not None else store.get_study(study)
            if existing is not None:
                _check_same(existing, space, key, options_json, seed, store.path, study, direction)
                study_id = existing["id"]
            store.lock_study(study_id, study)  # one driver per study: a second one is refused
            records = store.trials(study_id)
            the_study = Study(study, space, key, options_json, seed, store.url,
                              [Trial(r["number"], r["params"], r["budget"], status=r["status"], value=r["value"],
                                     intermediate=r["intermediate"], error=r["error"], started=r["started"],
                                     finished=r["finished"]) for r in records], direction)
            proposals = _replay(strat, records, the_study.sign)
            for t in the_study.trials:
                t.bracket = getattr(proposals.get(t.number), "bracket", None)
            pm = lifecycle_manager(callbacks)
            display = _Display(console)
            display.start(the_study)
            try:
                board, stop_board = _link_board(strat, ex, key, executor)
                _loop(objective, the_study, strat, store, study_id, records, proposals, pm, ex, slots,
                      n_trials, display, board, remake)
                finished = True
            finally:
                display.stop(the_study)
        finally:
            store.close()
    finally:
        shutdown(finished)  # interrupted: do not wait for running trials (they stay 'running')
        stop_board()
    return the_study


def _replay(strat: Strategy, records: list[dict], sign: float = 1.0) -> dict[int, Any]:
    """Re-ask and re-tell a rebuilt strategy in the recorded order; before its
    tell, each finished trial's stored reports are judged again (``should_prune``)
    so that a pruning strategy knows the values at its rungs again.

    -> ``{number: proposal object}`` (what to tell back / re-run)."""
    told = sorted((r for r in records if r["tell_order"] is not None), key=lambda r: r["tell_order"])
    proposals: dict[int, Any] = {}
    tpos, warned = 0, False

    def tell_upto(limit: int) -> None:
        nonlocal tpos
        while tpos < min(limit, len(told)):
            r = told[tpos]
            p = proposals[r["number"]]
            t = Trial(r["number"], r["params"], r["budget"], bracket=getattr(p, "bracket", None))
            t._strategy, t._sign = strat, sign
            for step, v in r["intermediate"]:
                t.report(step, v)
            strat.tell(p, _told_value(r["status"], r["value"], sign))
            tpos += 1

    batches: dict[int, list[dict]] = {}
    for r in records:
        batches.setdefault(r["batch"], []).append(r)
    for batch in sorted(batches.values(), key=lambda b: b[0]["number"]):
        tell_upto(batch[0]["tells_before"])
        got = strat.ask_batch(len(batch))
        for i, r in enumerate(batch):
            p = got[i] if i < len(got) else None
            if p is None or _jsonable(p) != r["params"]:
                if not warned:
                    warnings.warn(f"search resume: the strategy proposed {None if p is None else dict(p)} "
                                  f"where trial {r['number']} had {r['params']}; it is not deterministic "
                                  "for its seed, so the continuation may differ", RuntimeWarning, stacklevel=3)
                    warned = True
                p = Proposal(r["params"], r["budget"])
            proposals[r["number"]] = p
    tell_upto(len(told))
    return proposals


def _told_value(status: str, value: float | None, sign: float = 1.0) -> float | None:
    # failed -> None; pruned -> its last reported value (pessimistic: an early loss); strategies
    # minimize, so a maximized value is told negated
    return sign * value if status in ("complete", "pruned") and value is not None else None


def _loop(objective, study: Study, strat: Strategy, store: Storage, study_id: int, records: list[dict],
          proposals: dict[int, Any], pm, ex, slots: int, n_trials: int, display: _Display,
          board: Any = None, remake: Callable[[], Executor] | None = None) -> None:
    sign = study.sign
    by_number = {t.number: t for t in study.trials}
    rerun = [by_number[r["number"]] for r in records if r["status"] == "running"]
    rerun_numbers = {t.number for t in rerun}
    tell_count = sum(r["tell_order"] is not None for r in records)
    next_batch = max((r["batch"] for r in records), default=-1) + 1
    inflight: dict[Any, Trial] = {}
    queue: list[Trial] = []  # to launch (sequential mode runs them one by one)
    # trials in flight when a worker process died (the pool then fails them all): re-run one at a time,
    # so the one that kills its process again is known and recorded as failed, and the others are not
    suspects: list[Trial] = []
    suspect_numbers: set[int] = set()

    def finish(trial: Trial, result: dict) -> None:
        nonlocal tell_count
        trial.status, trial.value, trial.error = result["status"], result["value"], result["error"]
        trial.intermediate = [(int(s), v) for s, v in result["intermediate"]]
        trial.started, trial.finished = result["started"], result["finished"]
        trial._strategy = None
        store.finish_trial(study_id, trial.number, status=trial.status, value=trial.value,
                           intermediate=trial.intermediate, started=trial.started,
                           finished=trial.finished, error=trial.error, tell_order=tell_count)
        tell_count += 1
        strat.tell(proposals[trial.number], _told_value(trial.status, trial.value, sign))
        pm.hook.tinygrad_init_trial_end(study=study, trial=trial)
        display.trial_end(study, trial)

    while True:
        isolate = bool(suspects) or any(t.number in suspect_numbers for t in inflight.values())
        limit = 1 if isolate else slots
        for waiting in (suspects, rerun):
            while waiting and len(inflight) + len(queue) < limit:
                queue.append(waiting.pop(0))
        free = limit - len(inflight) - len(queue)
        missing = n_trials - len(study.trials)
        if free > 0 and missing > 0:
            got = strat.ask_batch(min(free, missing))
            if got:
                new = []
                for p in got:
                    t = Trial(len(study.trials), _jsonable(p), getattr(p, "budget", None),
                              bracket=getattr(p, "bracket", None))
                    proposals[t.number] = p
                    study.trials.append(t)
                    new.append(t)
                now = time.time()
                for t in new:
                    t.started = now
                store.add_trials(study_id, [{"number": t.number, "params": t.params, "budget": t.budget,
                                             "batch": next_batch, "tells_before": tell_count,
                                             "started": now} for t in new])
                next_batch += 1
                queue.extend(new)
        if not queue and not inflight:
            break
        for i, t in enumerate(queue):
            if t.started is None or t.number in rerun_numbers:  # a re-run: record its new start
                t.started = time.time()
                store.start_trial(study_id, t.number, t.started)
                rerun_numbers.discard(t.number)
            if ex is None:
                pm.hook.tinygrad_init_trial_start(study=study, trial=t)
                t._strategy, t._sign = strat, sign
                try:
                    result = _execute(objective, t)
                finally:
                    t._strategy = None
                finish(t, result)
                continue
            remote = Trial(t.number, t.params, t.budget, bracket=t.bracket)
            remote._board, remote._sign = board, sign
            try:
                inflight[ex.submit(_execute, objective, remote)] = t
            except BrokenExecutor:  # the pool broke before it could take them: they did not start
                rerun[:0] = queue[i:]
                rerun_numbers.update(u.number for u in queue[i:])
                if not inflight:  # nothing in it to blame: a new pool
                    ex = _remade(remake, ex, queue[i:])
                break  # else the trials in flight fail with it and are looked into below
            pm.hook.tinygrad_init_trial_start(study=study, trial=t)
        queue = []
        if inflight:
            done, _ = wait(list(inflight), return_when=FIRST_COMPLETED)
            broken, cause = [], None
            for fut in sorted(done, key=lambda f: inflight[f].number):
                t = inflight.pop(fut)
                try:
                    result = fut.result()
                except BrokenExecutor as exc:  # a worker process died: the pool fails every trial in it
                    broken.append(t)
                    cause = exc
                    continue
                except Exception as exc:  # the executor could not run it (pickling, a lost Dask worker)
                    now = time.time()
                    result = {"status": "failed", "value": None, "intermediate": [], "started": t.started,
                              "finished": now, "error": f"executor error: {type(exc).__name__}: {exc}"}
                suspect_numbers.discard(t.number)
                finish(t, result)
            if broken:
                broken += inflight.values()
                inflight.clear()
                ex = _remade(remake, ex, broken + rerun, cause)
                if len(broken) == 1:  # it ran alone: it took its process down
                    t = broken[0]
                    suspect_numbers.discard(t.number)
                    finish(t, {"status": "failed", "value": None, "intermediate": [], "started": t.started,
                               "finished": time.time(), "error": f"its worker process died while it ran "
                               f"alone ({type(cause).__name__}: {cause}); e.g. out of memory, a crash "
                               "in native code, or os._exit"})
                else:
                    broken.sort(key=lambda t: t.number)
                    suspects.extend(broken)
                    suspect_numbers.update(t.number for t in broken)
                    rerun_numbers.update(t.number for t in broken)


def _remade(remake: Callable[[], Executor] | None, ex: Executor, waiting: list[Trial],
            cause: BaseException | None = None) -> Executor:
    """A new process pool for a broken one; an executor the runner did not make cannot be."""
    if remake is None:
        raise RuntimeError(f"the executor {ex!r} is broken" + (f" ({type(cause).__name__}: {cause})" if cause else "")
                           + f"; trials {sorted(t.number for t in waiting)} stay 'running' and are re-run "
                           "when the same search is started again with a working executor")
    return remake()


def load_study(storage: str | os.PathLike, study: str | None = None) -> Study:
    """Read a study back from ``storage`` (``study`` may be omitted when the file
    holds exactly one). Raises ``ValueError`` listing the names otherwise."""
    path = storage if isinstance(storage, str) else os.fspath(storage)
    from .storage import parse_url

    p = parse_url(path)
    if p != ":memory:" and not os.path.isfile(p):
        raise StorageError(f"no study file at {p!r}")
    store = Storage(path, readonly=True)  # reading never writes
    try:
        names = store.study_names()
        if study is None:
            if len(names) != 1:
                raise ValueError(f"{p!r} holds {len(names)} studies ({', '.join(names) or 'none'}): name one "
                                 "(load_study(path, study=NAME); on the command line --study NAME)")
            study = names[0]
        row = store.get_study(study)
        if row is None:
            raise ValueError(f"no study {study!r} in {p!r}; studies: {', '.join(names) or '(none)'}")
        trials = [Trial(r["number"], r["params"], r["budget"], status=r["status"], value=r["value"],
                        intermediate=r["intermediate"], error=r["error"], started=r["started"],
                        finished=r["finished"]) for r in store.trials(row["id"])]
        return Study(study, Space.from_dict(row["space"]), row["strategy"], row["strategy_options"],
                     row["seed"], store.url, trials, row["direction"])
    finally:
        store.close()
