"""Crash-safe checkpoints: one ``.npz`` of arrays plus a JSON metadata string.

Written atomically (temporary file in the same folder, flush, fsync, rename, fsync
of the folder), so a crash mid-write leaves the previous checkpoint intact; read
with ``allow_pickle=False``, so loading a file never runs code.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
import zipfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

META_KEY = "__meta__"
FORMAT = "tinygrad_init.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or from another model."""


class CheckpointWarning(UserWarning):
    """Part of a checkpoint is not used by the run that loads it."""


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: set and restore at once
    os.umask(mask)
    return mask


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(file_object)`` on a temporary file, then rename it over ``path``.

    The file gets the mode a plain ``open()`` would give it (``0o666`` less the umask),
    not ``mkstemp``'s ``0o600``. A failed write (a full disk: ``ENOSPC``) leaves the
    previous file intact and raises ``OSError`` naming ``path``.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"cannot write checkpoint {str(path)!r}: folder {str(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and not isinstance(exc, CheckpointError):
            raise OSError(exc.errno, f"cannot write {str(path)!r}: {exc.strerror or exc} "
                          "(the previous file, if any, is intact)") from exc
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def save_checkpoint(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], meta: Mapping[str, Any]) -> Path:
    """Save ``arrays`` (numeric or string arrays only) and JSON-able ``meta`` atomically."""
    payload = {k: np.asarray(v) for k, v in arrays.items()}
    for k, v in payload.items():
        if v.dtype == object:
            raise TypeError(f"checkpoint array {k!r} has dtype object; only numeric and string arrays are saved")
    payload[META_KEY] = np.array(json.dumps({"format": FORMAT, **meta}))
    return atomic_write(path, lambda f: np.savez(f, **payload))


def load_checkpoint(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Load ``(arrays, meta)``; a missing, truncated or foreign file is a ``CheckpointError``."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {str(path)!r} is a folder, not a checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with open(path, "rb") as f:  # closed even when the archive is truncated
            if f.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
                raise CheckpointError(f"checkpoint {str(path)!r} is not an .npz archive (a checkpoint is a "
                                      "zip of arrays); is it the right file?")
            f.seek(0)
            with np.load(f, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt: {exc}") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{str(path)!r} is not a tinygrad_init checkpoint (no metadata)")
    raw = arrays.pop(META_KEY)
    try:
        meta = json.loads(str(raw)) if raw.ndim == 0 and raw.dtype.kind == "U" else None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {str(path)!r}: field {META_KEY!r} is not valid JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {str(path)!r}: field {META_KEY!r} must be a JSON object, "
                              f"got {type(meta).__name__ if meta is not None else raw.dtype}")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"checkpoint {str(path)!r}: field 'format' is {meta.get('format')!r}, "
                              f"expected {FORMAT!r}")
    return arrays, meta


# ------------------------------------------------------------------ a training run's checkpoint


def _bad(path, field: str, value: Any, requirement: str) -> None:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    raise CheckpointError(f"checkpoint {str(path)!r}: field {field!r} = {shown} is invalid: must be {requirement}")


def _count(path, field: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        _bad(path, field, value, "an integer >= 0")
    return value


def _rng_state(path, field: str, state: Any, like: np.random.BitGenerator | None) -> None:
    """Refuse a bit-generator state that ``like`` (default: a PCG64) would not take."""
    try:
        (type(like) if like is not None else np.random.PCG64)().state = state
    except (TypeError, ValueError, KeyError, OverflowError) as exc:
        kind = type(like).__name__ if like is not None else "PCG64"
        _bad(path, field, state, f"a {kind} state ({type(exc).__name__}: {exc})")


def validate_meta(path, meta: Mapping[str, Any], *, generators: Mapping[str, np.random.Generator] | None = None,
                  steps_per_epoch: int | None = None) -> None:
    """Check a training checkpoint's metadata completely, so a resume changes nothing when it fails.

    ``generators`` are the model's random generators by name (their saved states must
    exist and fit them); ``steps_per_epoch`` bounds a mid-epoch position. Raises one
    ``CheckpointError`` naming the file and the field.
    """
    for key in ("epoch", "global_step", "progress", "history", "rng"):
        if key not in meta:
            raise CheckpointError(f"checkpoint {str(path)!r}: field {key!r} is missing")
    epoch = _count(path, "epoch", meta["epoch"])
    _count(path, "global_step", meta["global_step"])
    history = meta["history"]
    if not isinstance(history, dict) or not isinstance(history.get("epochs"), list) \
            or "stop_reason" not in history:
        _bad(path, "history", history, "an object {\"epochs\": [...], \"stop_reason\": ...}")
    for i, logs in enumerate(history["epochs"]):
        if not isinstance(logs, dict):
            _bad(path, f"history.epochs[{i}]", logs, "an object of metrics")
    reason = history["stop_reason"]
    if not (reason is None or isinstance(reason, str) or isinstance(reason, dict)
            and isinstance(reason.get("kind"), str) and isinstance(reason.get("message"), str)):
        _bad(path, "history.stop_reason", reason, 'null, a string or {"kind": ..., "message": ...}')
    if len(history["epochs"]) != epoch:
        _bad(path, "epoch", epoch, f"the number of epochs in history ({len(history['epochs'])})")
    progress = meta["progress"]
    if not isinstance(progress, dict):
        _bad(path, "progress", progress, "an object")
    if progress:
        for key in ("rng", "step", "loss_sum", "correct", "seen"):
            if key not in progress:
                raise CheckpointError(f"checkpoint {str(path)!r}: field 'progress.{key}' is missing")
        step = _count(path, "progress.step", progress["step"])
        if steps_per_epoch is not None and step > steps_per_epoch:
            _bad(path, "progress.step", step, f"at most the {steps_per_epoch} steps of an epoch of this run "
                 "(was it saved with another batch size or data set?)")
        for key in ("correct", "seen"):
            _count(path, f"progress.{key}", progress[key])
        if isinstance(progress["loss_sum"], bool) or not isinstance(progress["loss_sum"], (int, float)) \
                or not math.isfinite(progress["loss_sum"]):
            _bad(path, "progress.loss_sum", progress["loss_sum"], "a finite number")
        _rng_state(path, "progress.rng", progress["rng"], None)
    if meta.get("shuffle_rng") is not None:
        _rng_state(path, "shuffle_rng", meta["shuffle_rng"], None)
    rng = meta["rng"]
    if not isinstance(rng, dict) or "default" not in rng:
        _bad(path, "rng", rng, "an object holding at least the 'default' generator's state")
    _rng_state(path, "rng.default", rng["default"], None)
    if generators is not None:
        if set(rng) - {"default"} != set(generators):
            raise CheckpointError(f"checkpoint {str(path)!r}: field 'rng' holds the generators "
                                  f"{sorted(set(rng) - {'default'})}, but the model has {sorted(generators)}")
        for name, g in generators.items():
            _rng_state(path, f"rng.{name}", rng[name], g.bit_generator)


def check_finite(path, arrays: Mapping[str, np.ndarray], prefixes: tuple[str, ...] = ("model/", "optimizer/")) -> None:
    """Refuse NaN or infinite values in the weights and optimizer state of a checkpoint."""
    for key, a in arrays.items():
        if key.startswith(prefixes) and a.dtype.kind in "fc" and not np.isfinite(a).all():
            n = int(a.size - np.isfinite(a).sum())
            raise CheckpointError(f"checkpoint {str(path)!r}: array {key!r} holds {n} NaN or infinite "
                                  f"value(s) of {a.size}; it was saved from a diverged run")


def callback_prefixes(callbacks: Sequence[Any]) -> list[str]:
    """The key under which each callback's state is saved: its name and its place among same-named.

    ``[rich_logger, early_stopping, early_stopping]`` -> ``callback:rich_logger#0``,
    ``callback:early_stopping#0``, ``callback:early_stopping#1``; adding or removing a
    callback of another name does not move a state to the wrong callback.
    """
    seen: dict[str, int] = {}
    out = []
    for cb in callbacks:
        name = getattr(cb, "name", None)
        name = name if isinstance(name, str) and name else type(cb).__name__
        out.append(f"callback:{name}#{seen.get(name, 0)}")
        seen[name] = seen.get(name, 0) + 1
    return out


def callback_states(path, arrays: Mapping[str, np.ndarray], callbacks: Sequence[Any]) -> list[tuple[str, Any, dict]]:
    """``(key, callback, saved state)`` for each callback that has state in ``arrays``.

    A saved state that no callback of this run claims is reported with a warning
    (``CheckpointWarning``), not silently dropped.
    """
    found, claimed = [], set()
    for cb, prefix in zip(callbacks, callback_prefixes(callbacks)):
        saved = split(arrays, prefix)
        if saved and callable(getattr(cb, "load_state_dict", None)):
            found.append((prefix, cb, saved))
            claimed.add(prefix)
    owners = {k.split("/", 1)[0] for k in arrays if k.startswith("callback")}
    for prefix in sorted(owners - claimed):
        warnings.warn(f"checkpoint {str(path)!r} holds the state of {prefix.removeprefix('callback:')}, "
                      "which this run does not have; it is not used", CheckpointWarning, stacklevel=3)
    return found


def load_callback_states(path, states: Sequence[tuple[str, Any, dict]]) -> None:
    """Give each callback its saved state; if one refuses it, every callback gets its own back."""
    done = []
    for prefix, cb, saved in states:
        before = cb.state_dict() if callable(getattr(cb, "state_dict", None)) else None
        try:
            cb.load_state_dict(saved)
        except Exception as exc:
            for undo, state in reversed(done + [(cb, before)]):
                if state is not None:
                    undo.load_state_dict(state)
            raise CheckpointError(f"checkpoint {str(path)!r}: field {prefix!r} (the state of "
                                  f"{prefix.removeprefix('callback:')}) does not load: "
                                  f"{type(exc).__name__}: {exc}") from None
        done.append((cb, before))


def split(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries under ``prefix/``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def prefixed(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": v for k, v in arrays.items()}
