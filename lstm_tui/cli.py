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
    g.add_argument(
        "--model",
        default=None,
        metavar="NAME|PATH",
        help="built-in model name (default: brackets) or weights file: .safetensors, .npz (PyTorch state_dict "
        "or Keras weights), .pt/.pth (needs PyTorch)",
    )
    g.add_argument(
        "--prefix",
        default=None,
        metavar="NAME",
        help="key prefix of the recurrent module in the weights file, e.g. rnn for rnn.weight_ih_l0 "
        "(needed only when the file holds several)",
    )
    g.add_argument(
        "--vocab",
        default=None,
        metavar="FILE",
        help="vocabulary for a weights file that carries none: one token per line, UTF-8 (or a .json list)",
    )
    g.add_argument(
        "--inputs",
        default=None,
        metavar="FRAMES.npy",
        help="feed feature frames, a float array [T, E] saved with np.save, instead of --text",
    )
    g.add_argument(
        "--text", default=None, help=f"the sequence to start on (default: the model's example, or {EXAMPLE_TEXT!r})"
    )
    g.add_argument("--tokens", choices=("char", "word"), default=None, help="tokenizer of the random model (char)")
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
    """The model the options name; --seed, --hidden or --tokens alone ask for the random model."""
    from .core.io import is_model_path
    from .core.registry import DEFAULT, load_model

    wants_random = args.seed is not None or args.hidden is not None or args.tokens is not None
    spec = args.model or ("random" if wants_random else DEFAULT)
    if (args.prefix is not None or args.vocab is not None) and not is_model_path(spec):
        raise UserError("--prefix and --vocab apply to a weights file given with --model PATH")
    hidden = 24 if args.hidden is None else args.hidden
    seed = 0 if args.seed is None else args.seed
    tokenizer = args.tokens or "char"
    return load_model(spec, hidden=hidden, seed=seed, tokenizer=tokenizer, prefix=args.prefix, vocab_path=args.vocab)


def _text(args, model) -> str:
    """--text, or else the example the model's file carries (the demos have one), or else EXAMPLE_TEXT."""
    return args.text if args.text is not None else model.meta.get("example", EXAMPLE_TEXT)


def _frames(args, model):
    """The --inputs frames [T, E] checked against the model, or None to feed text."""
    from .core.io import load_frames

    if args.inputs is None:
        if not model.takes_tokens:
            raise UserError(
                f"model {model.name!r} has no embedding and vocabulary, so it reads feature frames: "
                f"give them with --inputs FRAMES.npy, a float array [T, {model.input_size}]"
            )
        return None
    if args.text is not None:
        raise UserError("give --text or --inputs, not both")
    return load_frames(args.inputs, model.input_size)


def _export(args) -> int:
    from .core.export import write_npz

    model = _load(args)
    frames = _frames(args, model)
    trace = model.trace(frames if frames is not None else _text(args, model))
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
        frames = _frames(args, model)
        from .app import LstmApp

        LstmApp(model, text=_text(args, model), frames=frames).run()
        return 0
    except UserError as exc:
        print(f"lstm-tui: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
