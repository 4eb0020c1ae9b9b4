"""The ``tinygrad-init`` command line (also ``python -m tinygrad_init``)."""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from typing import Sequence

from .registry import (KINDS, SLOW_IMPORT_SECONDS, PluginError, PluginLoadWarning, PluginRegistry,
                       SlowPluginWarning, _env_flag)


def _plugins(args: argparse.Namespace, console) -> int:
    strict = args.strict or _env_flag(os.environ, "TINYGRAD_INIT_STRICT_PLUGINS")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginLoadWarning)  # shown in the table instead
        warnings.simplefilter("ignore", SlowPluginWarning)
        infos = PluginRegistry(strict=False).plugins()
    if args.kind:
        infos = [i for i in infos if args.kind in i.components or i.status != "loaded"]
    failed = [i for i in infos if i.status == "failed" or i.error]
    if args.json:
        console.print_json(json.dumps([{
            "plugin": i.id, "distribution": i.distribution, "version": i.version, "module": i.value,
            "status": i.status, "error": i.error, "components": i.components, "hooks": i.hooks,
            "output": i.output,
            "slow_import_seconds": round(i.load_seconds, 1) if i.load_seconds > SLOW_IMPORT_SECONDS else None}
            for i in infos]))
    else:
        from rich.markup import escape
        from rich.table import Table

        table = Table(title="tinygrad_init plugins", show_lines=False)
        for col in ("plugin", "version", "status", "components"):
            table.add_column(col, overflow="fold")
        for i in infos:
            comps = "\n".join(f"{k}: {', '.join(v)}" for k, v in i.components.items() if v)
            if i.hooks:
                comps = "\n".join(filter(None, [comps, "hooks: " + ", ".join(
                    h.removeprefix("tinygrad_init_") for h in i.hooks)]))
            status = {"loaded": "[green]loaded[/]", "blocked": "[yellow]blocked[/]"}.get(i.status, "[red]failed[/]")
            if i.error:
                comps = "\n".join(filter(None, [escape(comps), f"[red]{escape(i.error)}[/]"]))
                status = "[red]failed[/]" if i.status == "failed" else status + " [red](conflict)[/]"
            else:
                comps = escape(comps)
            notes = [f"printed at import: {i.output.strip()!r}"] if i.output.strip() else []
            if i.load_seconds > SLOW_IMPORT_SECONDS:
                notes.append(f"slow import: {i.load_seconds:.1f} s")
            if notes:
                comps = "\n".join(filter(None, [comps, *(f"[yellow]{escape(n)}[/]" for n in notes)]))
            table.add_row(escape(i.id), escape(i.version), status, comps)
        console.print(table)
        n = {s: sum(i.status == s for i in infos) for s in ("loaded", "failed", "blocked")}
        console.print(f"{n['loaded']} loaded, {n['failed']} failed, {n['blocked']} blocked"
                      + (" [red](strict mode: failures are errors)[/]" if strict and failed else ""))
    return 1 if strict and failed else 0


def _demo(args: argparse.Namespace, console) -> int:
    from .demo import run

    run(epochs=args.epochs, seed=args.seed, console=console, plot=args.plot)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tinygrad-init",
        description="tinygrad_init: list plugins, run the demo, train from a config, search.")
    parser.add_argument("--version", action="version", version="%(prog)s 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("plugins", help="list installed plugins, their components and load status",
                       description="List every plugin found through the entry-point group "
                       "tinygrad_init.plugins: components by kind, distribution, version, and "
                       "failures in red with their reason; what a plugin printed at import and "
                       "imports slower than a second are noted. Exits 1 on a failure only in strict "
                       "mode (--strict or TINYGRAD_INIT_STRICT_PLUGINS=1).")
    p.add_argument("--kind", choices=list(KINDS), help="only plugins providing this kind")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--strict", action="store_true", help="exit 1 if any plugin failed to load")
    p.set_defaults(func=_plugins)

    p = sub.add_parser("demo", help="run the initializer comparison on the bundled digits data",
                       description="Train the same ReLU MLP on the bundled digits data with zeros, "
                       "randn*10, He and Xavier initialization and print the cost per epoch and "
                       "the final accuracy (the seed experiment).")
    p.add_argument("--epochs", type=int, default=None, help="epochs per run (default: the demo's own)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", default=None, metavar="PNG",
                   help="also save the cost curves to this PNG (needs the 'plot' extra)")
    p.set_defaults(func=_demo)

    for module in ("experiment", "search.cli"):
        try:
            mod = __import__(f"tinygrad_init.{module}", fromlist=["add_subparser"])
        except ImportError as exc:  # only a broken install gets here
            raise SystemExit(f"tinygrad-init: cannot load {module}: {exc}") from exc
        mod.add_subparser(sub)
    return parser


def main(argv: Sequence[str] | None = None, console=None) -> int:
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:  # logs and pipes: wide enough that tables do not wrap
            console = Console(width=120)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args, console) or 0)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    except (ValueError, TypeError, LookupError, OSError, PluginError) as exc:
        if os.environ.get("TINYGRAD_INIT_TRACEBACK"):
            raise
        # the message is plain text: "[space]", "[search.options]" are names, not rich markup
        from rich.markup import escape

        console.print("[red]error:[/] " + escape(str(exc)))
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
