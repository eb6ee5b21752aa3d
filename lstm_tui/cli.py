"""Command line: ``lstm-tui`` opens the debugger, ``lstm-tui export`` writes a trace."""

from __future__ import annotations

import argparse
import sys

from .core.errors import UserError

EXAMPLE_TEXT = "the cat sat on the mat."


def _positive(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {n}")
    return n


def _seed(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= n < 2**63:
        raise argparse.ArgumentTypeError(f"expected a seed from 0 to 2**63-1, got {n}")
    return n


def _model_options() -> argparse.ArgumentParser:
    """Options shared by the app and every subcommand."""
    p = argparse.ArgumentParser(add_help=False)
    g = p.add_argument_group("model and input")
    g.add_argument("--model", default=None, metavar="NAME", help="built-in model name (default: random)")
    g.add_argument("--text", default=None, help=f"the sequence to start on (default: {EXAMPLE_TEXT!r})")
    g.add_argument("--tokens", choices=("char", "word"), default="char", help="tokenizer of the built-in model")
    g.add_argument("--seed", type=_seed, default=None, metavar="N", help="seed of the built-in random model (0)")
    g.add_argument("--hidden", type=_positive, default=None, metavar="N", help="hidden size H of the random model (24)")
    return p


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    common = _model_options()
    parser = argparse.ArgumentParser(
        prog="lstm-tui",
        description="Step through a recurrent network (LSTM, GRU, RNN) one timestep at a time.",
        parents=[common],
        epilog="Keys inside the app: press ? for the list.",
    )
    parser.add_argument("--version", action="version", version=f"lstm-tui {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    ex = sub.add_parser(
        "export",
        parents=[common],
        help="write the whole trace to a file without starting the app",
        description="Write the trace of a sequence as .npz: i f g o c h [layers, T, H], x [T, E], "
        "y [T, V] (probabilities), tokens [T].",
    )
    ex.add_argument("-o", "--output", required=True, metavar="FILE", help="the .npz file to write")
    ex.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    return parser


def _load(args):
    """The model the options name; --seed or --hidden alone ask for the random model."""
    from .core.registry import DEFAULT, load_model

    spec = args.model or ("random" if args.seed is not None or args.hidden is not None else DEFAULT)
    hidden = 24 if args.hidden is None else args.hidden
    seed = 0 if args.seed is None else args.seed
    return load_model(spec, hidden=hidden, seed=seed, tokenizer=args.tokens)


def _export(args) -> int:
    from .core.export import write_npz

    model = _load(args)
    trace = model.trace(EXAMPLE_TEXT if args.text is None else args.text)
    path = write_npz(trace, args.output, force=args.force)
    print(f"wrote {path}: {trace.steps} steps, {trace.num_layers} layer(s), H={trace.hidden_size}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "export":
            return _export(args)
        model = _load(args)
        from .app import LstmApp

        LstmApp(model, text=EXAMPLE_TEXT if args.text is None else args.text).run()
        return 0
    except UserError as exc:
        print(f"lstm-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
