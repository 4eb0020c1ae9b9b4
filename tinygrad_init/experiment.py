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

DATASETS = ("digits", "moons", "spirals", "blobs", "idx", "mnist1d")
LAYERS = ("linear", "conv2d", "relu", "leaky_relu", "tanh", "sigmoid", "softmax", "dropout",
          "flatten", "maxpool2d", "avgpool2d", "norm", "gelu", "silu", "elu", "selu", "celu",
          "softplus", "mish", "hardswish", "hardsigmoid", "relu6", "hardtanh", "logsigmoid",
          "softsign", "prelu", "conv1d", "conv_transpose2d", "maxpool1d", "avgpool1d",
          "adaptive_avgpool2d", "rnn", "gru", "lstm", "embedding")
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
# the fields of each layer type besides `type` (a norm's other fields are the norm's hyperparameters)
LAYER_FIELDS: dict[str, tuple[str, ...]] = {
    "linear": ("out", "bias", "weight_init", "bias_init"),
    "conv2d": ("out", "kernel", "stride", "padding", "dilation", "bias", "weight_init", "bias_init"),
    "maxpool2d": ("kernel", "stride", "padding"), "avgpool2d": ("kernel", "stride", "padding"),
    "dropout": ("p",), "flatten": (), "relu": (), "tanh": (), "sigmoid": (),
    "leaky_relu": ("negative_slope",), "softmax": ("axis",),
}
LAYER_FIELD_TYPES = {"bias": bool, "weight_init": (str, dict), "bias_init": (str, dict), "p": (int, float),
                     "negative_slope": (int, float), "axis": int, "out": int}  # kernel etc.: int or pair
# the [data] fields that only some data sets take
DATA_FIELDS = {"n_samples": ("moons", "spirals", "blobs"), "noise": ("moons", "spirals"),
               "images": ("digits", "idx"), "path": ("idx",), "labels": ("idx",)}


class ConfigError(ValueError):
    """A config field has a bad type or value; the message names the field."""


def _fail(field: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"config field {field!r}: {value!r} is invalid; {allowed}")


def _did_you_mean(key: str, choices) -> str:
    close = difflib.get_close_matches(key, list(choices), n=1)
    close = close or [c for c in choices if len(key) >= 3 and key in c][:1]  # slope -> negative_slope
    return f" (did you mean {close[0]!r}?)" if close else ""


def _check_type(field: str, value: Any, types) -> None:
    types_t = types if isinstance(types, tuple) else (types,)
    if isinstance(value, bool) and bool not in types_t or not isinstance(value, types_t):
        _fail(field, value, f"must be {_type_names(types)}")


def _type_names(types) -> str:
    types = types if isinstance(types, tuple) else (types,)
    if float in types:
        types = tuple(t for t in types if t is not int)  # an integer is a number
    names = {int: "an integer", float: "a number", str: "a string", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names[t] for t in types)


def load_config(path: str | Path, overrides: list[str] = ()) -> dict[str, Any]:
    """Read ``path``, apply ``--set key=value`` overrides, check every field."""
    path = Path(path)
    try:
        cfg = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"config file {str(path)!r} is a folder, not a TOML file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text (TOML must be): byte "
                          f"{exc.object[exc.start:exc.start + 1]!r} at offset {exc.start}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    for item in overrides:
        set_field(cfg, item)
    return check(cfg)


def set_field(cfg: dict, item: str) -> None:
    """Apply one ``key.path=value`` override; the value is read as TOML (else a string).

    ``key.path=null`` removes the key (or the list item); removing what is not there is
    an error. (TOML has no null; the string "null" is ``key.path='"null"'``.)
    """
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {item!r}: expected key=value, e.g. optimizer.lr=0.01")
    remove = raw.strip() == "null"
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
        elif remove:
            if part not in node:
                raise ConfigError(f"--set {key}=null: there is no {'.'.join(parts[:i + 1])} to remove"
                                  + _did_you_mean(part, node))
            node = node[part]
        else:
            node = node.setdefault(part, {})
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"--set {key}: {'.'.join(parts[:i + 1])} is not a table")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ConfigError(f"--set {key}: no item {last!r}")
        if remove:
            del node[int(last)]
        else:
            node[int(last)] = value
    elif remove:
        if last not in node:
            raise ConfigError(f"--set {key}=null: there is no {key} to remove" + _did_you_mean(last, node))
        del node[last]
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
            if isinstance(given, dict) and given:
                _fail("callbacks", given, "write [[callbacks]] (double brackets: one table per callback), "
                      "not [callbacks]")
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
                _fail(field, value, f"the fields of [{section}] are: {', '.join(fields)}"
                      + _did_you_mean(key, fields))
            _check_type(field, value, fields[key][0])
            sec[key] = value
        for key, (_, default) in fields.items():
            sec.setdefault(key, default)
        out[section] = sec
    d, t = out["data"], out["train"]
    if d["name"] not in DATASETS:
        _fail("data.name", d["name"], f"allowed: {', '.join(DATASETS)}")
    for key, names in DATA_FIELDS.items():
        if key in cfg.get("data", {}) and d["name"] not in names:
            _fail(f"data.{key}", d[key], f"data set {d['name']!r} does not take it "
                  f"(only {', '.join(names)})")
    if d["name"] == "idx":
        for key in ("path", "labels"):
            if not d[key]:
                _fail(f"data.{key}", d[key], "the idx data set needs data.path (images) and data.labels")
            if not Path(d[key]).is_file():
                _fail(f"data.{key}", d[key], "no such file" if not Path(d[key]).exists() else "not a file")
    for field in ("data.seed", "model.seed", "train.seed"):
        sec, key = field.split(".")
        if out[sec][key] < 0:
            _fail(field, out[sec][key], "a seed must be an integer >= 0")
    if not 0 < d["val_fraction"] < 1:
        _fail("data.val_fraction", d["val_fraction"], "must be between 0 and 1")
    if out["output"]["checkpoint_every"] < 1:
        _fail("output.checkpoint_every", out["output"]["checkpoint_every"], "must be an integer >= 1")
    for key in ("epochs", "batch_size"):
        if t[key] < 1:
            _fail(f"train.{key}", t[key], "must be an integer >= 1")
    if out["schedule"]["unit"] not in ("epoch", "step"):
        _fail("schedule.unit", out["schedule"]["unit"], "allowed: epoch, step")
    given = cfg.get("schedule", {})
    if given and "name" not in given:
        other = next(iter(given))
        _fail(f"schedule.{other}", given[other], "[schedule] needs a 'name' (the schedule plugin)"
              + _did_you_mean(other, ["name"]))
    o = out["output"]
    if o["plot"] and not o["dir"]:
        _fail("output.plot", o["plot"], "it writes loss.png into output.dir, which is not set")
    if o["dir"] and Path(o["dir"]).exists() and not Path(o["dir"]).is_dir():
        _fail("output.dir", o["dir"], "it is a file, not a folder")
    layers = out["model"]["layers"]
    if not layers:
        _fail("model.layers", layers, "give at least one layer, e.g. [{type = \"linear\", out = 10}]")
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict) or layer.get("type") not in LAYERS:
            _fail(f"model.layers.{i}", layer, f"each layer is a table with type in: {', '.join(LAYERS)}"
                  + (_did_you_mean(layer["type"], LAYERS) if isinstance(layer, dict)
                     and isinstance(layer.get("type"), str) else ""))
        kind = layer["type"]
        for key in layer:
            if key != "type" and kind in LAYER_FIELDS and key not in LAYER_FIELDS[kind]:
                fields = LAYER_FIELDS[kind]
                _fail(f"model.layers.{i}.{key}", layer[key], f"{kind} layers take "
                      + (", ".join(fields) if fields else "no other field") + _did_you_mean(key, fields))
            if kind in LAYER_FIELDS and key != "type":
                _check_type(f"model.layers.{i}.{key}", layer[key], LAYER_FIELD_TYPES.get(key, (int, list)))
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
                mod = nn.ACTIVATIONS[kind](**spec)  # options as in PyTorch (alpha, beta, ...)
        except KeyError as exc:
            _fail(field, kind, f"{kind} layers need the field {exc.args[0]!r}")
        except (TypeError, ValueError) as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ConfigError(f"config field {field!r} ({kind}): {exc}") from None
        if any(n < 1 for n in shape):
            _fail(field, kind, f"its output would have shape {shape}: the {kind} is larger than its "
                  "input; make the kernel smaller or the input larger")
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


def resume_path(resume: str | Path) -> Path:
    """``--resume`` takes a checkpoint file or the output folder holding ``checkpoint.npz``."""
    resume = Path(resume)
    if not resume.is_dir():
        return resume
    if (resume / "checkpoint.npz").is_file():
        return resume / "checkpoint.npz"
    found = sorted(p.name for p in resume.glob("*.npz"))
    raise ConfigError(f"--resume {str(resume)!r}: the folder holds no checkpoint.npz"
                      + (f"; it has {', '.join(found)}: give one of them" if found else " (and no other .npz file)"))


def run_outputs(cfg: dict) -> list[Path]:
    """The files in ``output.dir`` that a run of ``cfg`` writes (checkpoint, metrics, plot)."""
    out = cfg["output"]
    if not out["dir"]:
        return []
    folder = Path(out["dir"])
    files = [folder / "checkpoint.npz"] + ([folder / "loss.png"] if out["plot"] else [])
    for spec in out["loggers"] + cfg["callbacks"]:
        if isinstance(spec, dict) and spec.get("name") in ("metrics_file", "checkpoint") and "path" in spec:
            files.append(folder / str(spec["path"]))
    return files


def refuse_overwrite(cfg: dict) -> None:
    """A fresh run does not silently replace an earlier run's files in ``output.dir``."""
    old = [p for p in run_outputs(cfg) if p.exists()]
    if old:
        folder = cfg["output"]["dir"]
        raise ConfigError(f"config field 'output.dir': {folder!r} already holds "
                          f"{', '.join(p.name for p in old)} of an earlier run; continue it with "
                          f"--resume {folder}, start it again with --overwrite, or choose another "
                          "output.dir (e.g. --set output.dir=...)")


def check_last_batch(cfg: dict, model, X) -> None:
    """Refuse a batch size whose last batch of one sample the model cannot train on (batch norm)."""
    import copy

    from .tensor import Tensor

    bs = cfg["train"]["batch_size"]
    if len(X) <= bs or len(X) % bs != 1:
        return
    trial = copy.deepcopy(model).train()  # a copy: running statistics stay untouched
    try:
        trial(Tensor(X[:2]))
    except ValueError:
        return  # not about the last batch: training reports it
    try:
        trial(Tensor(X[:1]))
    except ValueError as exc:
        raise ConfigError(f"config field 'train.batch_size': {bs} leaves a last batch of one sample "
                          f"({len(X)} training samples = {len(X) // bs} x {bs} + 1), which the model "
                          f"cannot train on: {exc}. Choose another batch_size (e.g. {bs + 1}) or change "
                          "data.val_fraction") from None


def run(path: str | Path, overrides: list[str] = (), resume: str | None = None, console=None,
        overwrite: bool = False):
    """Run the experiment of config ``path``; return ``(history, trainer)``.

    ``resume`` is a checkpoint or the output folder holding one. Without it, a run whose
    output.dir already holds an earlier run's files is refused unless ``overwrite``.
    """
    cfg = load_config(path, overrides)
    if resume is not None:
        resume = resume_path(resume)
    elif not overwrite:
        refuse_overwrite(cfg)
    trainer, train, val = build(cfg, console)
    check_last_batch(cfg, trainer.model, train[0])
    return fit(cfg, trainer, train, val, resume, str(path)), trainer


def fit(cfg: dict, trainer, train, val, resume: str | None = None, title: str = ""):
    """Fit a built setup as the config says (plot included); return the history."""
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
        plot_curves(curves, Path(out["dir"]) / "loss.png", title=title)
    return history


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``None``: JSON has no NaN (it prints ``null``)."""
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


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
        resume = None if args.resume is None else resume_path(args.resume)
        if resume is None and not args.overwrite:
            refuse_overwrite(cfg)
        trainer, train, val = build(cfg, human)
        check_last_batch(cfg, trainer.model, train[0])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NothingToTrain)  # said below, in plain words
                history = fit(cfg, trainer, train, val, resume, str(args.config))
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
        console.print(json.dumps(json_safe(data), allow_nan=False), markup=False, highlight=False, soft_wrap=True)
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
                   "(repeatable; the value is read as TOML; KEY=null removes the key)")
    p.add_argument("--resume", metavar="CHECKPOINT", help="continue the run saved in this checkpoint "
                   "(a .npz file, or the output folder holding checkpoint.npz); a finished run has "
                   "nothing left to train")
    p.add_argument("--overwrite", action="store_true", help="start a fresh run even though output.dir "
                   "holds an earlier run's checkpoint or metrics (they are replaced); without it, such "
                   "a run is refused")
    p.add_argument("--json", action="store_true", help="print the final metrics as one JSON object, alone "
                   "on stdout (the log and errors go to stderr)")
    p.set_defaults(func=_train)
