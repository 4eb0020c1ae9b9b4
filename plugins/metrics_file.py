"""The metrics file: every epoch's metrics appended to a JSONL or CSV file (a callback).

Registers ``metrics_file(path="metrics.jsonl", format=None)``; ``format`` is ``"jsonl"``
or ``"csv"`` (default: from the file suffix). At the start of a run the file is rewritten
(atomically) from the history the run starts with: empty for a new run, the
checkpoint's epochs for a resumed one. So after any resume the file equals the history,
whatever was appended after the checkpoint was written (a crash between the two writes,
``checkpoint(every=N)`` with N > 1) and whatever a crash kept from being appended.
Values are written as they are in ``History`` (floats, ints); diagnostics are not.
"""
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tinygrad_init import hookimpl
from tinygrad_init.checkpoint import atomic_write
from tinygrad_init.validation import one_of


class MetricsFile:
    name = "metrics_file"
    output_paths = ("path",)  # experiment.build puts a relative path under [output].dir

    def __init__(self, path: str = "metrics.jsonl", format: str | None = None):
        self.path = Path(path)
        fmt = format or ("csv" if self.path.suffix == ".csv" else "jsonl")
        self.format = one_of(self.name, "format", fmt, ("jsonl", "csv"))
        self.fields: list[str] | None = None

    @hookimpl
    def tinygrad_init_train_start(self, history):
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"metrics_file: folder {str(self.path.parent)!r} does not exist")
        self.fields = None
        buf = io.StringIO()
        for logs in history.epochs:
            self._write_to(buf, logs)
        atomic_write(self.path, lambda f: f.write(buf.getvalue().encode()))

    def _write_to(self, f, logs):
        if self.format == "jsonl":
            f.write(json.dumps(logs) + "\n")
            return
        if self.fields is None:
            self.fields = list(logs)
            csv.writer(f).writerow(self.fields)
        csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(logs)

    def _write(self, logs):
        try:
            with self.path.open("a", newline="") as f:
                self._write_to(f, logs)
        except OSError as exc:  # a full disk: say which file
            raise OSError(exc.errno, f"metrics_file: cannot append to {str(self.path)!r}: "
                          f"{exc.strerror or exc}") from exc

    @hookimpl
    def tinygrad_init_epoch_end(self, logs):
        self._write(logs)

    def __repr__(self):
        return f"MetricsFile(path={str(self.path)!r}, format={self.format!r})"


def read_metrics(path) -> list[dict]:
    """Read a metrics file back as a list of per-epoch dicts (numbers parsed)."""
    path = Path(path)
    if path.suffix == ".csv":
        with path.open(newline="") as f:
            return [{k: float(v) if v not in ("", None) else None for k, v in row.items()}
                    for row in csv.DictReader(f)]
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@hookimpl
def tinygrad_init_add_callbacks():
    return {"metrics_file": MetricsFile}
