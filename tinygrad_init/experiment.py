"""Experiments described in TOML: ``tinygrad-init train CONFIG.toml [--set key=value ...]``.

A config has the sections ``[data]``, ``[model]``, ``[optimizer]``, optional
``[schedule]``, ``[train]`` and ``[output]``; docs/cli.md lists every field. Every
field is checked before anything runs, and an error names the field, the bad value
and what is allowed.
"""
from __future__ import annotations

import argparse
import difflib
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("digits", "moons", "spirals", "blobs", "idx", "mnist1d")
LAYERS = ("linear", "conv2d", "relu", "leaky_relu", "tanh", "sigmoid", "softmax", "dropout",
          "flatten", "maxpool2d", "avgpool2d", "norm", "conv1d", "conv_transpose2d", "maxpool1d",
          "avgpool1d", "adaptive_avgpool2d", "rnn", "gru", "lstm", "embedding")
SCHEMA: dict[str, dict[str, tuple]] = {  # section -> field -> (types, default)
    "data": {"name": (str, "digits"), "val_fraction": ((int, float), 0.2), "seed": (int, 0),
             "standardize": (bool, True), "images": (bool, False), "n_samples": (int, None),
             "noise": ((int, float), None), "path": (str, None), "labels": (str, None),
             "stratify": (bool, False)},
    "model": {"layers": (list, None), "weight_init": ((str, dict), None), "bias_init": ((str, dict), None),
              "seed": (int, 0)},
    "optimizer": {"name": (str, "sgd")},  # plus the optimizer's own hyperparameters
    "schedule": {"name": (str, None), "unit": (str, "epoch")},  # plus the schedule's own
    "train": {"epochs": (int, 10), "batch_size": (int, 32), "seed": (int, 0), "loss": (str, "cross_entropy"),
              "l1": ((int, float), 0.0), "l2": ((int, float), 0.0), "diagnostics": (bool, False),
              "clip_grad_norm": ((int, float), None), "data_init": ((str, dict), None)},
    "output": {"dir": (str, None), "checkpoint_every": (int, 1), "loggers": (list, ["rich_logger"]),
               "plot": (bool, False)},
    "callbacks": {},
}
OPEN_SECTIONS = {"optimizer", "schedule"}  # extra keys are the component's hyperparameters


class ConfigError(ValueError):
    """A config field has a bad type or value; the message names the field."""


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"config field {field!r}: {value!r} is invalid; {allowed}")


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names[t] for t in types)


def load_config(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    """Read ``path``, apply ``--set key=value`` overrides, check every field."""
    path = Path(path)
    try:
        cfg = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    for item in overrides:
        set_field(cfg, item)
    return check(cfg)


def set_field(cfg: dict, item: str) -> None:
    """Apply one ``key.path=value`` override; the value is read as TOML (else a string)."""
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. optimizer.lr=0.01")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    parts = _key_path(key.strip())
    node: Any = cfg
    for i, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} has no item {part!r}")
            node = node[int(part)]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a table")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {key}: no item {last!r}")
        node[int(last)] = value
    else:
        node[last] = value


def _key_path(key: str) -> list[str]:
    """``a.b."c.d".0`` -> ``["a", "b", "c.d", "0"]``: TOML's dotted-key rules, quotes included."""
    try:
        node = tomllib.loads(f"{key} = 0")
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"--set {key}: not a valid key path (quote parts that hold dots: "
                          'space."optimizer.lr".hi=0.1)') from None
    parts = []
    while isinstance(node, dict):
        (name, node), = node.items()
        parts.append(name)
    return parts


def check(cfg: dict) -> dict[str, Any]:
    unknown = [s for s in cfg if s not in SCHEMA]
    if unknown:
        close = difflib.get_close_matches(unknown[0], SCHEMA, n=1)
        _fail(unknown[0], "(section)", f"sections are: {', '.join(SCHEMA)}"
              + (f" (did you mean {close[0]!r}?)" if close else ""))
    out: dict[str, Any] = {}
    for section, fields in SCHEMA.items():
        given = cfg.get(section, {})
        if section == "callbacks":
            if not isinstance(given, (dict, list)):
                _fail("callbacks", given, "must be a list of tables with a 'name'")
            out[section] = given if isinstance(given, list) else []
            continue
        if not isinstance(given, dict):
            _fail(section, given, "must be a table")
        sec = {}
        for key, value in given.items():
            field = f"{section}.{key}"
            if key not in fields:
                if section in OPEN_SECTIONS:
                    sec[key] = value
                    continue
                close = difflib.get_close_matches(key, fields, n=1)
                _fail(field, value, f"the fields of [{section}] are: {', '.join(fields)}"
                      + (f" (did you mean {close[0]!r}?)" if close else ""))
            types, _ = fields[key]
            types_t = types if isinstance(types, tuple) else (types,)
            if isinstance(value, bool) and bool not in types_t or not isinstance(value, types_t):
                _fail(field, value, f"must be {_type_names(types)}")
            sec[key] = value
        for key, (_, default) in fields.items():
            sec.setdefault(key, default)
        out[section] = sec
    d, t = out["data"], out["train"]
    if d["name"] not in DATASETS:
        _fail("data.name", d["name"], f"allowed: {', '.join(DATASETS)}")
    if d["name"] == "idx" and (not d["path"] or not d["labels"]):
        _fail("data.path", d["path"], "the idx data set needs data.path (images) and data.labels")
    if not 0 < d["val_fraction"] < 1:
        _fail("data.val_fraction", d["val_fraction"], "must be between 0 and 1")
    for key in ("epochs", "batch_size"):
        if t[key] < 1:
            _fail(f"train.{key}", t[key], "must be an integer >= 1")
    if out["schedule"]["unit"] not in ("epoch", "step"):
        _fail("schedule.unit", out["schedule"]["unit"], "allowed: epoch, step")
    layers = out["model"]["layers"]
    if not layers:
        _fail("model.layers", layers, "give at least one layer, e.g. [{type = \"linear\", out = 10}]")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("type") not in LAYERS:
            _fail(f"model.layers.{i}", layer, f"each layer is a table with type in: {', '.join(LAYERS)}")
    for i, cb in enumerate(out["output"]["loggers"] + out["callbacks"]):
        if not (isinstance(cb, str) or isinstance(cb, dict) and isinstance(cb.get("name"), str)):
            _fail(f"callbacks.{i}", cb, "each callback is a name or a table with a 'name'")
    return out


# ---------------------------------------------------------------------- building


def load_data(d: dict) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    from . import datasets as D

    name = d["name"]
    extra = {k: d[k] for k in ("n_samples", "noise") if d[k] is not None}
    if name == "digits":
        X, y = D.load_digits(images=d["images"])
    elif name == "mnist1d":
        X = y = None
    elif name == "idx":
        X, y = D.load_idx(d["path"]).astype(np.float32), D.load_idx(d["labels"]).astype(np.int64)
        X = X.reshape(len(X), 1, *X.shape[1:]) if d["images"] else X.reshape(len(X), -1)
    else:
        X, y = getattr(D, f"make_{name}")(seed=d["seed"], **extra)
    if name == "mnist1d":  # its own 4,000 / 1,000 split: the 1,000 test signals validate
        (Xtr, ytr), (Xva, yva) = D.load_mnist1d()
    else:
        Xtr, Xva, ytr, yva = D.train_val_split(X, y, val_fraction=d["val_fraction"], seed=d["seed"],
                                               stratify=d["stratify"])
    if d["standardize"]:
        if d["images"]:  # one mean and std for all pixels, so images stay images
            mu, sd = Xtr.mean(), Xtr.std() or 1.0
            Xtr, Xva = (Xtr - mu) / sd, (Xva - mu) / sd
        else:
            Xtr, Xva = D.standardize(Xtr, Xva)
    return (Xtr.astype(np.float32), ytr), (Xva.astype(np.float32), yva)


def _component(spec: Any, field: str) -> tuple[str, dict]:
    if isinstance(spec, str):
        return spec, {}
    spec = dict(spec)
    name = spec.pop("name", None)
    if not isinstance(name, str):
        _fail(field, spec, "a table here needs a 'name'")
    return name, spec


def build_model(m: dict, input_shape: tuple[int, ...]):
    """Build a ``Sequential`` from ``[model].layers``; in-sizes follow the data's shape."""
    import tinygrad_init as tgi
    from . import nn

    rng = np.random.default_rng(m["seed"])
    inits = {}
    for key in ("weight_init", "bias_init"):
        if m[key] is not None:
            name, hp = _component(m[key], f"model.{key}")
            inits[key] = tgi.initializer(name, **hp)
    shape = tuple(input_shape)
    mods = []
    for i, spec in enumerate(m["layers"]):
        spec = dict(spec)
        kind = spec.pop("type")
        field = f"model.layers.{i}"
        try:
            if kind == "linear":
                if len(shape) != 1:
                    _fail(field, kind, f"a linear layer needs flat input, but it gets shape {shape}: "
                          "add {type = \"flatten\"} before it")
                mod = nn.Linear(shape[0], spec.pop("out"), rng=rng, **{**inits, **_inits(spec)}, **spec)
                shape = (mod.out_features,)
            elif kind in CONV_LAYERS:
                mod, shape = _conv_layer(kind, spec, shape, field, rng, inits)
            elif kind == "flatten":
                mod, shape = nn.Flatten(), (int(np.prod(shape)),)
            elif kind == "norm":
                name = spec.pop("name", "batch_norm")
                mod = tgi.norm(name, shape[0], **spec)
            elif kind in ("rnn", "gru", "lstm"):
                mod = _recurrent_layer(kind, shape, spec, rng)
                shape = mod.out_shape
            elif kind == "embedding":
                mod = nn.Embedding(spec.pop("num"), spec.pop("dim"), rng=rng, **_inits(spec), **spec)
                shape = (*shape, mod.embedding_dim)
            elif kind == "dropout":
                mod = nn.Dropout(spec.pop("p", 0.5), rng=rng)
            else:
                cls = {"relu": nn.ReLU, "leaky_relu": nn.LeakyReLU, "tanh": nn.Tanh,
                       "sigmoid": nn.Sigmoid, "softmax": nn.Softmax}[kind]
                mod = cls(**spec)
        except KeyError as exc:
            _fail(field, kind, f"{kind} layers need the field {exc.args[0]!r}")
        except TypeError as exc:
            raise ConfigError(f"config field {field!r} ({kind}): {exc}") from None
        mods.append(mod)
    return nn.Sequential(*mods)


def _inits(spec: dict, keys: tuple = ("weight_init", "bias_init")) -> dict:
    import tinygrad_init as tgi

    out = {}
    for key in keys:
        if key in spec:
            name, hp = _component(spec.pop(key), key)
            out[key] = tgi.initializer(name, **hp)
    return out


def _recurrent_layer(kind: str, shape: tuple, spec: dict, rng):
    """``rnn``/``gru``/``lstm`` layer of a config: batch-first input ``(seq, features)`` (or
    ``(seq,)``: one feature per step); ``output = "sequence"`` (default: every step's states,
    ``(seq, directions*hidden)``) or ``"last"`` (the last layer's final states, ``(directions*hidden,)``)."""
    from . import nn

    class Recurrent(nn.Module):
        def __init__(self):
            super().__init__()
            if len(shape) not in (1, 2):
                _fail(kind, shape, f"{kind} needs (seq, features) or (seq,) input")
            self.output = spec.pop("output", "sequence")
            if self.output not in ("sequence", "last"):
                _fail(f"{kind}.output", self.output, "allowed: sequence, last")
            cls = {"rnn": nn.RNN, "gru": nn.GRU, "lstm": nn.LSTM}[kind]
            feats = shape[1] if len(shape) == 2 else 1
            self.rnn = cls(feats, spec.pop("hidden"), batch_first=True, rng=rng,
                           **_inits(spec, ("weight_ih_init", "weight_hh_init", "bias_init")), **spec)
            width = self.rnn.hidden_size * (2 if self.rnn.bidirectional else 1)
            self.out_shape = (shape[0], width) if self.output == "sequence" else (width,)

        def forward(self, x):
            x = x if x.ndim == 3 else x.reshape(*x.shape, 1)
            out, h = self.rnn(x)
            if self.output == "sequence":
                return out
            h = h[0] if isinstance(h, tuple) else h
            last = h[-2:] if self.rnn.bidirectional else h[-1:]  # the last layer's directions
            return last.transpose(1, 0, 2).reshape(x.shape[0], -1)

        def extra_repr(self):
            return f"output={self.output!r}"

    return Recurrent()


CONV_LAYERS = {"conv2d": 2, "conv1d": 1, "conv_transpose2d": 2, "maxpool2d": 2, "avgpool2d": 2,
               "maxpool1d": 1, "avgpool1d": 1, "adaptive_avgpool2d": 2}  # kind -> spatial dims


def _conv_layer(kind: str, spec: dict, shape: tuple, field: str, rng: Any, inits: dict) -> tuple:
    """A conv/pool layer and its output shape, found by running it on one zero sample, so
    every size rule (and every size error, naming the layer) is the layer's own."""
    from . import nn
    from .tensor import Tensor, no_grad

    nd = CONV_LAYERS[kind]
    if len(shape) != nd + 1:
        want = "(channels, length)" if nd == 1 else "(channels, height, width)"
        _fail(field, kind, f"{kind} needs {want} input, but it gets shape {shape}"
              + (" (after a flatten?)" if len(shape) == 1 else ""))
    if kind.startswith("conv"):
        cls = {"conv2d": nn.Conv2d, "conv1d": nn.Conv1d, "conv_transpose2d": nn.ConvTranspose2d}[kind]
        mod = cls(shape[0], spec.pop("out"), spec.pop("kernel"), rng=rng,
                  **{**inits, **_inits(spec)}, **spec)
    elif kind == "adaptive_avgpool2d":
        mod = nn.AdaptiveAvgPool2d(spec.pop("out"), **spec)
    else:
        cls = {"maxpool2d": nn.MaxPool2d, "avgpool2d": nn.AvgPool2d, "maxpool1d": nn.MaxPool1d,
               "avgpool1d": nn.AvgPool1d}[kind]
        mod = cls(spec.pop("kernel"), **spec)
    try:
        with no_grad():
            out = mod(Tensor(np.zeros((1, *shape), np.float32)))
    except ValueError as exc:
        raise ConfigError(f"config field {field!r} ({kind}) on input shape {shape}: {exc}") from None
    return mod, tuple(out.shape[1:])


def build(cfg: dict, console=None):
    """``(trainer, train, val, cfg)`` from a checked config."""
    import tinygrad_init as tgi
    from .trainer import Trainer

    train, val = load_data(cfg["data"])
    model = build_model(cfg["model"], train[0].shape[1:])
    opt = dict(cfg["optimizer"])
    name = opt.pop("name")
    optimizer = tgi.optimizer(name, model.named_parameters(), **opt)
    sched = dict(cfg["schedule"])
    unit = sched.pop("unit")
    sname = sched.pop("name")
    schedule = tgi.schedule(sname, **sched) if sname else None
    callbacks = []
    out = cfg["output"]
    for spec in out["loggers"] + cfg["callbacks"]:
        cname, hp = _component(spec, "callbacks")
        if cname == "rich_logger" and console is not None:
            hp.setdefault("console", console)
        if out["dir"] and cname in ("metrics_file", "checkpoint") and "path" in hp:
            hp["path"] = str(Path(out["dir"]) / hp["path"])
        callbacks.append(tgi.callback(cname, **hp))
    if out["dir"]:
        Path(out["dir"]).mkdir(parents=True, exist_ok=True)
        if not any(type(c).__name__ == "Checkpoint" for c in callbacks):
            callbacks.append(tgi.callback("checkpoint", path=str(Path(out["dir"]) / "checkpoint.npz"),
                                          every=out["checkpoint_every"]))
    t = cfg["train"]
    trainer = Trainer(model, t["loss"], optimizer, schedule, schedule_unit=unit, callbacks=callbacks,
                      diagnostics=t["diagnostics"], l1=t["l1"], l2=t["l2"], clip_grad_norm=t["clip_grad_norm"])
    if t["data_init"] is not None:
        dname, hp = _component(t["data_init"], "train.data_init")
        report = tgi.data_initializer(dname, **hp)(model, train[0][:256], rng=np.random.default_rng(t["seed"]))
        if console is not None:
            console.print(f"data-dependent init {dname}: {report}")
    return trainer, train, val


def run(path: str | Path, overrides: list[str] = (), resume: str | None = None, console=None):
    """Run the experiment of config ``path``; return ``(history, trainer)``."""
    cfg = load_config(path, overrides)
    trainer, train, val = build(cfg, console)
    t = cfg["train"]
    out = cfg["output"]
    ck = Path(out["dir"]) / "checkpoint.npz" if out["dir"] else None
    history = trainer.fit(train, val, epochs=t["epochs"], batch_size=t["batch_size"], seed=t["seed"],
                          resume=resume, checkpoint=ck)
    if out["plot"] and out["dir"]:
        from .plot import plot_curves

        curves = {"train": history["train_loss"]}
        if "val_loss" in history:
            curves["validation"] = history["val_loss"]
        plot_curves(curves, Path(out["dir"]) / "loss.png", title=str(path))
    return history, trainer


def _train(args: argparse.Namespace, console) -> int:
    try:
        history, trainer = run(args.config, args.set or [], args.resume, console)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: the run was checkpointed (when [output].dir is set); "
                      "continue it with --resume <dir>/checkpoint.npz[/]")
        return 130
    last = history.last
    if args.json:
        import json
        console.print_json(json.dumps({"epochs": len(history), "stop_reason": history.stop_reason, **last}))
    return 0 if history.stop_reason is None or history.stop_reason.startswith("early stopping") else 1


def add_subparser(sub) -> None:
    p = sub.add_parser("train", help="run an experiment described in a TOML config",
                       description="Train a model as described in CONFIG.toml ([data], [model], "
                       "[optimizer], [schedule], [train], [output], [[callbacks]]; see docs/cli.md). "
                       "Exits 1 when training diverged, 130 when interrupted (a checkpoint is saved "
                       "when [output].dir is set).")
    p.add_argument("config", help="the TOML experiment file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a field, e.g. --set optimizer.lr=0.01 --set model.layers.0.out=64 "
                   "(repeatable; the value is read as TOML)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in this checkpoint")
    p.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    p.set_defaults(func=_train)
