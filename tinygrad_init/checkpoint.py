"""Crash-safe checkpoints: one ``.npz`` of arrays plus a JSON metadata string.

Written atomically (temporary file in the same folder, flush, fsync, rename, fsync
of the folder), so a crash mid-write leaves the previous checkpoint intact; read
with ``allow_pickle=False``, so loading a file never runs code.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Mapping

import numpy as np

META_KEY = "__meta__"
FORMAT = "tinygrad_init.checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file is missing, truncated, corrupt or from another model."""


def atomic_write(path: str | os.PathLike, write) -> Path:
    """Call ``write(file_object)`` on a temporary file, then rename it over ``path``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise CheckpointError(f"cannot write checkpoint {str(path)!r}: folder {str(folder)!r} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
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
    if not path.is_file():
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise CheckpointError(f"checkpoint {str(path)!r} is truncated or corrupt: {exc}") from None
    if META_KEY not in arrays:
        raise CheckpointError(f"{str(path)!r} is not a tinygrad_init checkpoint (no metadata)")
    meta = json.loads(str(arrays.pop(META_KEY)))
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{str(path)!r} has checkpoint format {meta.get('format')!r}, expected {FORMAT!r}")
    return arrays, meta


def split(arrays: Mapping[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    """The entries under ``prefix/``, with the prefix removed."""
    n = len(prefix) + 1
    return {k[n:]: v for k, v in arrays.items() if k.startswith(prefix + "/")}


def prefixed(prefix: str, arrays: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {f"{prefix}/{k}": v for k, v in arrays.items()}
