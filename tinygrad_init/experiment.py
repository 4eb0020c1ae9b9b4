"""Experiments described in TOML: ``tinygrad-init train CONFIG.toml [--set key=value ...]``.

A config has the sections ``[data]``, ``[model]``, ``[optimizer]``, optional
``[schedule]``, ``[train]`` and ``[output]``; docs/cli.md lists every field. Every
field is checked before anything runs, and an error names the field, the bad value
and what is allowed.
"""
from __future__ import annotations

import argparse
import difflib
import math
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

DATASETS = ("digits", "moons", "spirals", "blobs", "idx")
LAYERS = ("linear", "conv2d", "relu", "leaky_relu", "tanh", "sigmoid", "softmax", "dropout",
          "flatten", "maxpool2d", "avgpool2d", "norm")
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
    elif name == "idx":
        X, y = D.load_idx(d["path"]).astype(np.float32), D.load_idx(d["labels"]).astype(np.int64)
        X = X.reshape(len(X), 1, *X.shape[1:]) if d["images"] else X.reshape(len(X), -1)
    else:
        X, y = getattr(D, f"make_{name}")(seed=d["seed"], **extra)
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
            elif kind == "conv2d":
                if len(shape) != 3:
                    _fail(field, kind, f"conv2d needs (channels, height, width) input, gets {shape}")
                mod = nn.Conv2d(shape[0], spec.pop("out"), spec.pop("kernel"), rng=rng,
                                **{**inits, **_inits(spec)}, **spec)
                shape = _conv_out(shape, mod.out_channels, mod.kernel_size, mod.stride, mod.padding, mod.dilation)
            elif kind in ("maxpool2d", "avgpool2d"):
                cls = nn.MaxPool2d if kind == "maxpool2d" else nn.AvgPool2d
                k = spec.pop("kernel")
                mod = cls(k, **spec)
                s = spec.get("stride") or k
                p = spec.get("padding", 0)
                shape = (shape[0], (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1)
            elif kind == "flatten":
                mod, shape = nn.Flatten(), (int(np.prod(shape)),)
            elif kind == "norm":
                name = spec.pop("name", "batch_norm")
                mod = tgi.norm(name, shape[0], **spec)
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


def _inits(spec: dict) -> dict:
    import tinygrad_init as tgi

    out = {}
    for key in ("weight_init", "bias_init"):
        if key in spec:
            name, hp = _component(spec.pop(key), key)
            out[key] = tgi.initializer(name, **hp)
    return out


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def _conv_out(shape, out_ch, k, s, p, d):
    k, s, p, d = map(_pair, (k, s, p, d))
    return (out_ch,) + tuple((shape[1 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2))


def _lr_channel(opt_hp: dict, optimizer, sched_hp: dict, sname: str):
    """A schedule's base lr is the optimizer's: ``schedule.lr0`` missing takes
    ``optimizer.lr`` (given or the optimizer's default); both given and different, or an
    ``optimizer.lr`` a schedule without ``lr0`` would ignore, is an error naming both."""
    import inspect

    from .registry import get_registry

    factory = get_registry().get("schedule", sname).factory
    try:
        takes_lr0 = "lr0" in inspect.signature(factory).parameters
    except (TypeError, ValueError):
        takes_lr0 = False
    if not takes_lr0:
        if "lr" in opt_hp:
            raise ConfigError(f"config fields 'optimizer.lr' ({opt_hp['lr']!r}) and [schedule] {sname!r}: "
                              f"schedule {sname!r} has no lr0 and sets the learning rate from its own "
                              "fields, so optimizer.lr would be ignored: remove optimizer.lr")
        return sched_hp
    if "lr0" in sched_hp and "lr" in opt_hp and sched_hp["lr0"] != opt_hp["lr"]:
        raise ConfigError(f"config fields 'optimizer.lr' ({opt_hp['lr']!r}) and 'schedule.lr0' "
                          f"({sched_hp['lr0']!r}) disagree: the schedule is the optimizer's learning "
                          "rate; give one of them (a schedule without lr0 starts at optimizer.lr)")
    if "lr0" not in sched_hp:
        sched_hp = {**sched_hp, "lr0": optimizer.param_groups[0]["lr"]}
    return sched_hp


def build(cfg: dict, console=None):
    """``(trainer, train, val)`` from a checked config.

    Callbacks are all built the same way: a callback factory that declares
    ``uses_console = True`` gets ``console`` (when given and not set), one that declares
    ``output_paths = ("path", ...)`` gets those hyperparameters put under ``[output].dir``.
    The schedule, if any, is installed as the optimizer's ``lr`` (one lr channel).
    """
    import math

    import tinygrad_init as tgi
    from .optim import PerEpoch
    from .registry import get_registry
    from .trainer import Trainer

    train, val = load_data(cfg["data"])
    model = build_model(cfg["model"], train[0].shape[1:])
    t = cfg["train"]
    opt = dict(cfg["optimizer"])
    name = opt.pop("name")
    optimizer = tgi.optimizer(name, model.named_parameters(), **opt)
    sched = dict(cfg["schedule"])
    unit = sched.pop("unit")
    sname = sched.pop("name")
    if sname:
        schedule = tgi.schedule(sname, **_lr_channel(opt, optimizer, sched, sname))
        steps = math.ceil(len(train[0]) / min(t["batch_size"], len(train[0])))
        optimizer.set_lr(schedule if unit == "step" else PerEpoch(schedule, steps))
    callbacks = []
    out = cfg["output"]
    names = []
    for spec in out["loggers"] + cfg["callbacks"]:
        cname, hp = _component(spec, "callbacks")
        factory = get_registry().get("callback", cname).factory
        if getattr(factory, "uses_console", False) and console is not None:
            hp.setdefault("console", console)
        if out["dir"]:
            for key in getattr(factory, "output_paths", ()):
                if key in hp:
                    hp[key] = str(Path(out["dir"]) / hp[key])
        callbacks.append(tgi.callback(cname, **hp))
        names.append(cname)
    if out["dir"]:
        Path(out["dir"]).mkdir(parents=True, exist_ok=True)
        if "checkpoint" not in names:
            callbacks.append(tgi.callback("checkpoint", path=str(Path(out["dir"]) / "checkpoint.npz"),
                                          every=out["checkpoint_every"]))
    trainer = Trainer(model, t["loss"], optimizer, callbacks=callbacks,
                      diagnostics=t["diagnostics"], l1=t["l1"], l2=t["l2"], clip_grad_norm=t["clip_grad_norm"])
    if t["data_init"] is not None:
        dname, hp = _component(t["data_init"], "train.data_init")
        report = tgi.data_initializer(dname, **hp)(model, train[0][:256], rng=np.random.default_rng(t["seed"]))
        if console is not None:
            console.print(f"data-dependent init {dname}: {report}")
    return trainer, train, val


def fingerprint(cfg: dict, built: tuple) -> str:
    """A digest of what a built setup trains: data, initial weights, model structure,
    optimizer hyperparameters and learning rates (a schedule at sample steps), callbacks
    and the fit arguments. Two configs with the same fingerprint train the same run."""
    import hashlib

    trainer, train, val = built
    h = hashlib.sha256()
    for arr in (*train, *(val or ())):
        h.update(np.ascontiguousarray(arr).tobytes())
    for k, v in trainer.model.state_dict().items():
        h.update(k.encode() + np.ascontiguousarray(v).tobytes())
    opt = trainer.optimizer
    groups = [{k: (repr(v) if not callable(v) else [opt._lr_of(g, s) for s in (0, 1, 7, 50, 400, 3000)])
               for k, v in g.items() if k != "params"} for g in opt.param_groups]
    t = cfg["train"]
    h.update(repr((repr(trainer.model), type(opt).__name__, groups, trainer.loss_name,
                   [repr(c) for c in trainer.callbacks + trainer._builtin],
                   t["epochs"], t["batch_size"], t["seed"])).encode())
    return h.hexdigest()


def run(path: str | Path, overrides: list[str] = (), resume: str | None = None, console=None):
    """Run the experiment of config ``path``; return ``(history, trainer)``."""
    cfg = load_config(path, overrides)
    trainer, train, val = build(cfg, console)
    return fit(cfg, trainer, train, val, resume, str(path)), trainer


def _resume_path(resume: str | None) -> str | None:
    if resume is None or not Path(resume).is_dir():
        return resume
    inside = Path(resume) / "checkpoint.npz"
    if not inside.is_file():
        raise FileNotFoundError(f"--resume {resume!r} is a directory without a checkpoint.npz; "
                                "give the checkpoint file")
    return str(inside)


def fit(cfg: dict, trainer, train, val, resume: str | None = None, title: str = ""):
    """Fit a built setup as the config says (plot included); return the history."""
    t = cfg["train"]
    out = cfg["output"]
    ck = Path(out["dir"]) / "checkpoint.npz" if out["dir"] else None
    history = trainer.fit(train, val, epochs=t["epochs"], batch_size=t["batch_size"], seed=t["seed"],
                          resume=_resume_path(resume), checkpoint=ck)
    if out["plot"] and out["dir"]:
        from .plot import plot_curves

        curves = {"train": history["train_loss"]}
        if "val_loss" in history:
            curves["validation"] = history["val_loss"]
        plot_curves(curves, Path(out["dir"]) / "loss.png", title=title)
    return history


def _json_value(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None  # JSON has no NaN
    if isinstance(v, dict):
        return {k: _json_value(x) for k, x in v.items()}
    return v


def _train(args: argparse.Namespace, console) -> int:
    import json
    import os
    import warnings

    from rich.console import Console
    from rich.markup import escape

    from .trainer import NothingToTrain

    # with --json, stdout carries only the JSON: everything for people goes to stderr
    human = Console(stderr=True, width=console.width) if args.json else console
    try:
        cfg = load_config(args.config, args.set or [])
        trainer, train, val = build(cfg, human)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NothingToTrain)  # said below, in plain words
                history = fit(cfg, trainer, train, val, args.resume, str(args.config))
        except KeyboardInterrupt:
            reason = trainer.stop_reason
            msg = reason.message if reason is not None and reason.kind == "interrupted" else \
                "interrupted (nothing was saved)"
            human.print(f"[yellow]{escape(msg)}[/]")
            return 130
    except (ValueError, TypeError, LookupError, OSError) as exc:
        if not args.json or os.environ.get("TINYGRAD_INIT_TRACEBACK"):
            raise
        human.print("[red]error:[/] " + escape(str(exc)))
        return 1
    if trainer.nothing_to_train:
        human.print(f"[yellow]{escape(trainer.nothing_to_train)}[/]")
    reason = history.stop_reason
    if args.json:
        data = {"epochs": len(history), "stop_reason": None if reason is None else reason.to_dict(),
                **history.last}
        console.print(json.dumps(_json_value(data)), markup=False, highlight=False, soft_wrap=True)
    return 1 if reason is not None and reason.failure else 0


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
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in this checkpoint "
                   "(or in the directory holding checkpoint.npz); a finished run has nothing left to train")
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON object, alone "
                   "on stdout (the log and errors go to stderr)")
    p.set_defaults(func=_train)
