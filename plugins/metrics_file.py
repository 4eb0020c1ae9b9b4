"""The metrics file: every epoch's metrics appended to a JSONL or CSV file (a callback).

Registers ``metrics_file(path="metrics.jsonl", format=None)``; ``format`` is ``"jsonl"``
or ``"csv"`` (default: from the file suffix). A new run truncates the file; a resumed
run (history already non-empty) appends, so the file always equals the history.
Values are written as they are in ``History`` (floats, ints); diagnostics are not.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

from tinygrad_init import hookimpl
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
        if len(history) == 0 or not self.path.exists():
            self.path.write_text("")
            self.fields = None
            for logs in history.epochs:  # a resumed run whose file was lost: rewrite it
                self._write(logs)
        elif self.format == "csv":
            with self.path.open(newline="") as f:
                self.fields = next(csv.reader(f), None)

    def _write(self, logs):
        with self.path.open("a", newline="") as f:
            if self.format == "jsonl":
                f.write(json.dumps(logs) + "\n")
                return
            if self.fields is None:
                self.fields = list(logs)
                csv.writer(f).writerow(self.fields)
            csv.DictWriter(f, self.fields, extrasaction="ignore").writerow(logs)

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
