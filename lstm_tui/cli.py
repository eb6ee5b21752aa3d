"""Command line: ``lstm-tui`` opens the debugger, ``lstm-tui export`` writes a trace."""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import warnings
from pathlib import Path

from .core.cells import CELLS
from .core.errors import UserError, inert, install_hint

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


def _model_options(suppress: bool = False) -> argparse.ArgumentParser:
    """Options shared by the app and every subcommand.

    A subcommand's copy has no defaults (``suppress``), so that an option given
    before the subcommand (``lstm-tui --model X export``) is not overwritten.
    """
    p = _Parser(add_help=False, argument_default=argparse.SUPPRESS if suppress else None)
    g = p.add_argument_group("model and input")
    g.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="built-in model name (see --list-models; default: brackets, or in the app the last built-in one you named) or model file: .safetensors, "
        ".npz (PyTorch state_dict or Keras weights), .pt/.pth (needs PyTorch), .keras/.weights.h5 (Keras 3), "
        ".h5/.hdf5 (legacy Keras), .onnx",
    )
    g.add_argument(
        "--prefix",
        metavar="NAME",
        help="key prefix of the recurrent module in the weights file, e.g. rnn for rnn.weight_ih_l0 "
        "(needed only when the file holds several)",
    )
    g.add_argument(
        "--vocab",
        metavar="FILE",
        help="vocabulary for a weights file that carries none: one token per line, UTF-8 (or a .json list)",
    )
    g.add_argument(
        "--inputs",
        metavar="FRAMES.npy",
        help="feed feature frames, a float array [T, E] saved with np.save, instead of --text",
    )
    g.add_argument("--text", help=f"the sequence to start on (default: the model's example, or {EXAMPLE_TEXT!r})")
    g.add_argument("--text-file", metavar="FILE", help="read the sequence from a UTF-8 text file")
    g.add_argument("--tokens", choices=("char", "word"), help="tokenizer of the random model (char)")
    g.add_argument("--seed", type=_seed, metavar="N", help="seed of the built-in random model (0)")
    g.add_argument("--hidden", type=_positive, metavar="N", help="hidden size H of the random model (24)")
    g.add_argument("--cell", choices=CELLS, help="cell of the random model (lstm)")
    g.add_argument("--layers", type=_positive, metavar="N", help="layers of the random model (1)")
    g.add_argument("--source-text", metavar="TEXT", help="a second input whose run --set ...=src copies from")
    g.add_argument("--source-inputs", metavar="FRAMES.npy", help="the source input as feature frames [T, E]")
    return p


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other lstm-tui error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {inert(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="lstm-tui",
        description="Step through a recurrent network (LSTM, GRU, RNN) one timestep at a time. "
        "With no command, opens the debugger.",
        parents=[_model_options()],
        epilog="Keys inside the app: press ? for the list. Bad input exits with code 2.",
    )
    parser.add_argument("--version", action="store_true", help="show the version and exit")
    parser.add_argument("--list-models", action="store_true", help="list the built-in models and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    common = _model_options(suppress=True)
    ex = sub.add_parser(
        "export",
        parents=[common],
        help="write the whole trace to a file without starting the app",
        description="Write the trace of a sequence. .npz: i f g o c h [layers, T, H] (r z n h for a GRU, h for "
        "an RNN), x [T, E], y [T, V] (probabilities), tokens [T], ids [T] (the vocabulary id fed at each step; "
        "not written for --inputs frames), unknown [T] (tokens not in the vocabulary), cell (the cell's name); "
        ".csv: one row per number (step, token, layer, quantity, unit, value); .json: the same arrays as lists.",
    )
    ex.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write: .npz, .csv or .json")
    ex.add_argument("--force", action="store_true", help="overwrite FILE if it exists")
    ex.add_argument(
        "--grad",
        action="store_true",
        help="also write gradients (.npz only): grad_x [T, E], grad_h [layers, T, H], grad_c for an LSTM",
    )
    ex.add_argument(
        "--set",
        action="append",
        dest="sets",
        metavar='"[L<n>:]Q[J]=V@S"',
        help="patch the run (repeatable): set quantity Q of layer n (from 1, default 1), unit J (from 0, or *) "
        "at step S (from 1; A-B or *) to V (a number, or src: the source input's value); the arrays written "
        "are the patched run's",
    )
    ex.add_argument(
        "--target",
        choices=("top", "sum-h"),
        help="what --grad differentiates at the last step: top = log-probability of the top next token "
        "(the default with an output head), sum-h = the sum of the last layer's h",
    )
    show = sub.add_parser(
        "show",
        parents=[common],
        help="print one step's numbers to stdout, for notes and pipes",
        description="Print the gates and states of one step as text (colour only on a terminal).",
    )
    show.add_argument("--step", type=_positive, default=1, metavar="T", help="the step, from 1 (default 1)")
    show.add_argument("--layer", type=_positive, default=1, metavar="N", help="the layer, from 1 (default 1)")
    show.add_argument("--unit", type=int, default=0, metavar="J", help="the unit whose equations to write out")
    _sweep_parser(sub, common)
    serve = sub.add_parser(
        "serve",
        parents=[common],
        help=f"run the app in a web browser; needs the serve extra: {install_hint('serve')}",
        description="Serve the app to a web browser. Binds to localhost unless --host says otherwise.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8000, help="port to listen on (default 8000)")
    return parser


def _port(text: str) -> int:
    n = _positive(text)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {n}")
    return n


_RANDOM_OPTIONS = ("seed", "hidden", "tokens", "cell", "layers")


def _spec(args, default: str) -> str:
    """The model the options name; options of the random model alone ask for it."""
    if args.model is not None and not args.model.strip():
        raise UserError("--model is empty: give a built-in model's name or a weights file")
    if args.model:
        return args.model
    return "random" if any(getattr(args, o) is not None for o in _RANDOM_OPTIONS) else default


def _random_options(args, tokenizer: str | None = None) -> dict:
    """The random model's shape from the options, with its defaults."""
    return {
        "hidden": 24 if args.hidden is None else args.hidden,
        "seed": 0 if args.seed is None else args.seed,
        "layers": args.layers or 1,
        "cell": args.cell or "lstm",
        "tokenizer": tokenizer or args.tokens or "char",
    }


def _load(args, default: str | None = None):
    from .formats import is_model_path
    from .core.registry import DEFAULT, load_model

    spec = _spec(args, default or DEFAULT)
    if (args.prefix is not None or args.vocab is not None) and not is_model_path(spec):
        raise UserError("--prefix and --vocab apply to a weights file given with --model PATH")
    if spec != "random" and args.model and any(getattr(args, o) is not None for o in _RANDOM_OPTIONS):
        given = ", ".join(f"--{o}" for o in _RANDOM_OPTIONS if getattr(args, o) is not None)
        raise UserError(f"{given}: only for the random model, not for --model {spec}")
    if spec == "random":
        return load_model("random", **_random_options(args))
    return load_model(spec, prefix=args.prefix, vocab_path=args.vocab)


def _retokenize(args, model):
    """For the random model: the same model with another tokenizer (the app's w key)."""
    if not model.name.startswith("random"):
        return None
    from .core.registry import load_model

    def build(tokenizer: str):
        return load_model("random", **_random_options(args, tokenizer))

    return build


def _text(args, model) -> str:
    """--text, --text-file, or else the example the model's file carries (the demos have one), or EXAMPLE_TEXT."""
    if args.text is not None and args.text_file is not None:
        raise UserError("give --text or --text-file, not both")
    if args.text_file is not None:
        from .core.inputs import read_text

        return read_text(args.text_file)
    if args.text is not None:
        return _from_argv(args.text)
    return model.meta.get("example", EXAMPLE_TEXT)


def _from_argv(text: str) -> str:
    """Text from the command line with bytes that were not UTF-8 made into U+FFFD, as a text file would."""
    return os.fsencode(text).decode("utf-8", "replace")


def _frames(args, model):
    """The --inputs frames [T, E] checked against the model, or None to feed text."""
    from .core.inputs import load_frames

    if args.inputs is None:
        if not model.takes_tokens:
            raise UserError(
                f"model {model.name!r} has no embedding and vocabulary, so it reads feature frames: "
                f"give them with --inputs FRAMES.npy, a float array [T, {model.input_size}]"
            )
        return None
    if args.text is not None or args.text_file is not None:
        raise UserError("give --text (or --text-file) or --inputs, not both")
    return load_frames(args.inputs, model.input_size)


#: What each command would do with the input, for the refusal of an empty one.
_NOTHING_TO = {"export": "nothing to export", "show": "nothing to show", "sweep": "nothing to map"}


def _inputs(args, model):
    """The frames of --inputs, or else the text, checked against the model.

    A command needs at least one step: an empty text is refused here, as
    ``load_frames`` refuses an array of no frames (the app opens on one: there the text can be typed)."""
    frames = _frames(args, model)
    if frames is not None:
        return frames
    from .core.tokenize import is_empty

    text = _text(args, model)
    if is_empty(text, model.tokenizer):
        if args.text_file is not None:
            where = inert(args.text_file)
        elif args.text is not None:
            where = f"--text {inert(shlex.quote(args.text))}"
        else:  # the example a model file carries
            where = f"the example text of {inert(model.name)!r}"
        words = " (no words)" if model.tokenizer == "word" else ""
        raise UserError(f"{where}: the sequence is empty{words}: expected at least one token "
                        f"({_NOTHING_TO.get(args.command, 'nothing to run')})")
    return text


def _trace(args, model):
    return model.trace(_inputs(args, model))


def _compile_if_long(model, inputs) -> None:
    """Start the compiled step loop (numba, in the background) for an input that would take
    NumPy more than half a second: the chunks after it is ready use it. A short command never waits for it."""
    from .core import compiled
    from .core.checkpoint import step_seconds

    if len(inputs) * step_seconds(model) > 0.5:
        compiled.warm_up()


def _export(args) -> int:
    from .core.export import write_npz, write_trace

    if args.sets:
        from .core.interventions import parse_patch_text

        for text in args.sets:  # syntax first, before anything is loaded or run
            parse_patch_text(text)
    model = _load(args)
    _print_notes(model)
    if args.target is not None and not args.grad:
        raise UserError("--target goes with --grad")
    if args.grad and not str(args.output).lower().endswith(".npz"):
        raise UserError(f"{args.output}: --grad writes .npz files only")
    _refuse_overwriting_inputs(args)
    inputs = _inputs(args, model)
    _compile_if_long(model, inputs)
    suffix = Path(args.output).suffix.lower()
    if args.sets and args.grad:
        raise UserError("--grad and --set: gradients of a patched run are not defined; export without --grad")
    if suffix == ".npz" and not args.grad and not args.sets:  # any length: a chunk at a time, straight into the file
        from .core.stream import write_npz_stream

        path, steps = write_npz_stream(model, inputs, args.output, force=args.force)
        print(f"wrote {path}: {steps} steps, {model.num_layers} layer(s), {_widths(model)}")
        return 0
    if suffix in (".csv", ".json"):  # refused before a long input is traced whole
        from .core.stream import check_text_size

        check_text_size(model, inputs, args.output)
    trace = model.trace(inputs)
    if args.sets:  # a patched run is traced whole: patches reach everything after them
        trace = _patched(args, model, trace)
    if args.grad:
        from .core.gradients import export_gradients

        target = args.target or ("top" if trace.has_head else "sum-h")
        if target == "top" and not trace.has_head:
            raise UserError(f"--target top needs a model with an output head; {model.name!r} has none: use sum-h")
        path = write_npz(trace, args.output, force=args.force, extra=export_gradients(model, trace, target))
    else:
        path = write_trace(trace, args.output, force=args.force)
    print(f"wrote {path}: {trace.steps} steps, {trace.num_layers} layer(s), {_widths(trace)}")
    return 0


def _source(args, model):
    """The clean trace of --source-text / --source-inputs, or None without one."""
    if args.source_text is not None and args.source_inputs is not None:
        raise UserError("give --source-text or --source-inputs, not both")
    if args.source_inputs is not None:
        from .core.inputs import load_frames

        return model.trace(load_frames(args.source_inputs, model.input_size))
    if args.source_text is not None:
        if not model.takes_tokens:
            raise UserError(f"model {model.name!r} reads feature frames: give the source with --source-inputs")
        return model.trace(_from_argv(args.source_text))
    return None


def _patched(args, model, trace):
    """The run with every --set applied (checked against the model and inputs first)."""
    from .core.interventions import intervene, nonfinite, parse_patch

    source = _source(args, model)
    steps = None if source is None else source.steps
    patches = [parse_patch(text, model, trace.steps, steps) for text in args.sets]
    patched = intervene(model, trace, patches, source)
    for line in nonfinite(patched):
        print(f"lstm-tui: warning: after the patches, {line}", file=sys.stderr)
    return patched


def _sweep_parser(sub, common) -> None:
    sw = sub.add_parser(
        "sweep",
        parents=[common],
        help="map how much each (step, unit) of one quantity matters to one prediction",
        description="Write an effect map (.npz): effect [T, H] is the exact change in log p(token at step T) when "
        "quantity Q of unit j at step s alone is set to V (rows after T are 0); estimate [T, H] the same from one "
        "backward pass (gradient x (V - clean value)); steps [T] (1-based), units [H], token.",
    )
    sw.add_argument("--quantity", required=True, metavar="Q", help="i f g o c h (LSTM), r z n h (GRU), h (RNN)")
    sw.add_argument("--layer", type=_positive, default=1, metavar="N", help="the layer, from 1 (default 1)")
    sw.add_argument("--value", required=True, metavar="V", help="the value each unit is set to: a number, or src")
    sw.add_argument("--step", required=True, type=_positive, metavar="T", help="the target step, from 1")
    sw.add_argument("--token", metavar="TOK", help="the target token (default: the clean run's top-1 at T)")
    sw.add_argument("-o", "--output", required=True, metavar="F.npz", help="the file to write (.npz)")
    sw.add_argument("--force", action="store_true", help="overwrite F.npz if it exists")


def _sweep(args) -> int:
    import numpy as np

    from .core.export import atomic_write
    from .core.interventions import NUMBER, EffectMap

    if not str(args.output).lower().endswith(".npz"):
        raise UserError(f"{inert(str(args.output))}: sweep writes .npz files only")
    if Path(args.output).exists() and not args.force:
        raise UserError(f"{inert(str(args.output))}: already exists (use --force to overwrite)")
    value = args.value.strip()
    if value != "src":
        if not NUMBER.fullmatch(value):
            raise UserError(f"--value {inert(args.value)!r}: expected a number or src")
        value = float(value)
    model = _load(args)
    _print_notes(model)
    _refuse_overwriting_inputs(args)
    trace = _trace(args, model)
    source = _source(args, model)
    if value == "src" and source is None:
        raise UserError("--value src needs a source input: give --source-text or --source-inputs")
    if not 1 <= args.step <= trace.steps:
        raise UserError(f"--step {args.step}: expected a step from 1 to {trace.steps}")
    if not 1 <= args.layer <= model.num_layers:
        raise UserError(f"--layer {args.layer}: expected a layer from 1 to {model.num_layers}")
    token = None if args.token is None else _from_argv(args.token)
    emap = EffectMap(model, trace, args.quantity, args.layer - 1, value, args.step - 1, token, source)
    estimate = emap.estimate()
    effect = emap.run()
    arrays = {
        "effect": effect,  # (T, W)
        "estimate": estimate,  # (T, W)
        "steps": np.arange(1, trace.steps + 1),
        "units": np.arange(emap.width),
        "token": np.array(emap.label if model.vocab is not None else str(emap.token)),  # the text, or the id
        "token_id": np.array(emap.token),
        "clean_logp": np.array(emap.clean_logp),
    }
    path = atomic_write(args.output, lambda fh: np.savez(fh, **arrays), force=args.force)
    bad = int((~np.isfinite(effect)).sum())
    if bad:
        print(f"lstm-tui: warning: {bad} cells of the effect map are not finite (NaN or inf)", file=sys.stderr)
    print(
        f"wrote {path}: effect [{trace.steps}, {emap.width}] on log p({emap.label!r}) at step {args.step}, "
        f"{args.quantity} of layer {args.layer} set to {args.value}"
    )
    return 0


def _print_notes(model) -> None:
    """The reader's notes on the file, one "note: …" line each on stderr (stdout stays the command's own)."""
    for line in model.notes:
        print(f"note: {inert(line)}", file=sys.stderr)


def _widths(trace) -> str:
    """H=32 when every layer and quantity has that width, else each layer's widths of h (and c).
    Of a trace or of the model it came from."""
    from .core.cells import QUANTITIES

    hs = [trace.width("h", n) for n in range(trace.num_layers)]
    cs = [trace.width(QUANTITIES[trace.cell][0], n) for n in range(trace.num_layers)]
    if hs == cs and len(set(hs)) == 1:
        return f"H={hs[0]}"
    if hs == cs:
        return "widths " + ", ".join(map(str, hs))
    return "widths h " + ", ".join(map(str, hs)) + "; gates " + ", ".join(map(str, cs))


def _refuse_overwriting_inputs(args) -> None:
    """-o must not name a file the command reads, --force or not."""
    try:
        out = Path(args.output).resolve()
        for option in ("model", "inputs", "vocab", "text_file", "source_inputs"):
            given = getattr(args, option)
            if given and Path(given).exists() and Path(given).resolve() == out:
                raise UserError(f"{inert(str(args.output))}: is the --{option.replace('_', '-')} file; choose another -o")
    except OSError:
        return  # a name the system refuses: the writer says so


def _show(args) -> int:
    from rich.console import Console

    from .core import tracing
    from .render.show import step_report

    model = _load(args)
    _print_notes(model)
    inputs = _inputs(args, model)
    _compile_if_long(model, inputs)
    trace = tracing.trace(model, inputs)  # a long one kept as checkpoints: the step's window is recomputed
    if not 1 <= args.step <= trace.steps:
        raise UserError(f"--step {args.step}: expected a step from 1 to {trace.steps}")
    if not 1 <= args.layer <= trace.num_layers:
        raise UserError(f"--layer {args.layer}: expected a layer from 1 to {trace.num_layers}")
    units = max(trace.width(q, args.layer - 1) for q in trace.quantities)  # a projected LSTM's gates are wider than h
    if not 0 <= args.unit < units:
        raise UserError(f"--unit {args.unit}: expected a unit from 0 to {units - 1}")
    Console(soft_wrap=False).print(step_report(model, trace, args.layer - 1, args.step - 1, args.unit))
    return 0


def _serve(args, argv: list[str]) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError(f"lstm-tui serve needs textual-serve: {install_hint('serve')}") from None
    _load(args)  # fail here, with one line, rather than in the browser
    forwarded = [a for a in _app_arguments(argv)]
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "lstm_tui", *forwarded])
    print(f"serving lstm-tui on http://{args.host}:{args.port} (ctrl+c stops)", file=sys.stderr)
    Server(command, host=args.host, port=args.port, title="lstm-tui").serve()
    return 0


def _app_arguments(argv: list[str]) -> list[str]:
    """The app's own options out of a ``serve`` command line (without serve, --host, --port)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "serve":
            continue
        elif a in ("--host", "--port"):
            skip = True
        elif a.startswith(("--host=", "--port=")):
            continue
        else:
            out.append(a)
    return out


def _list_models() -> int:
    from .core.registry import BUILTIN, DEFAULT

    width = max(map(len, BUILTIN))  # the longest name's, so every description starts in one column
    for name, line in BUILTIN.items():
        print(f"{name:<{width}}  {line}{'  (default)' if name == DEFAULT else ''}")
    return 0


def _run_app(args) -> int:
    """The app, on the model the options name; without one, on the built-in model used last."""
    from .core.registry import DEFAULT, is_builtin
    from .settings import load as load_settings
    from .settings import save as save_settings

    settings, warning = load_settings()
    if warning:
        print(f"lstm-tui: warning: {warning}", file=sys.stderr)
    model = _load(args, settings.last_model if is_builtin(settings.last_model) else DEFAULT)
    frames = _frames(args, model)
    source = _source(args, model)  # the run the app's src values and diff mode read
    text = "" if frames is not None else _text(args, model)
    if args.model and is_builtin(args.model):
        settings.last_model = args.model  # files are not remembered: a bare lstm-tui always opens a built-in
        save_settings(settings)
    from .app import LstmApp

    app = LstmApp(
        model, text=text, frames=frames, retokenize=_retokenize(args, model), settings=settings,
        source=source, source_text=args.source_text or "",
    )
    app.run()
    return app.return_code or 0  # non-zero if the app stopped on an error


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    options = ("model", "prefix", "vocab", "inputs", "text", "text_file", "source_text", "source_inputs")
    for name in (*options, *_RANDOM_OPTIONS):
        if not hasattr(args, name):
            setattr(args, name, None)
    if args.command in ("export", "show", "sweep"):
        # a closed terminal or a kill ends the command through the same clean-up as ctrl+c
        for name in ("SIGTERM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), _interrupted)
    warnings.simplefilter("ignore", RuntimeWarning)  # overflow in a user's weights shows as inf, not a warning
    try:
        if getattr(args, "version", False):
            from . import __version__  # looked up only when asked for: importlib.metadata is slow to import

            print(f"lstm-tui {__version__}")
            raise SystemExit(0)  # as argparse's own version action ends
        if args.list_models:
            return _list_models()
        if args.command == "export":
            return _export(args)
        if args.command == "show":
            return _show(args)
        if args.command == "sweep":
            return _sweep(args)
        if args.command == "serve":
            return _serve(args, argv)
        return _run_app(args)
    except UserError as exc:
        print(f"lstm-tui: error: {exc}", file=sys.stderr)
        from .core.interventions import PatchSyntaxError

        if isinstance(exc, PatchSyntaxError):  # a --set: a caret under the bad column of the line above
            print(" " * (len("lstm-tui: error: ") + exc.offset) + "^", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except MemoryError:
        print("lstm-tui: error: out of memory: try a shorter sequence or a smaller model", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours: one line, and the traceback for whoever reports it
        if os.environ.get("LSTM_TUI_TRACEBACK"):
            raise
        print(f"lstm-tui: internal error: {type(exc).__name__}: {inert(str(exc))} (a bug in lstm-tui: run again "
              "with LSTM_TUI_TRACEBACK=1 for where, and report it)", file=sys.stderr)
        return 1


def _interrupted(signum, frame):
    raise KeyboardInterrupt
