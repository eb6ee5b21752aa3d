"""Command line: ``lstm-tui`` opens the debugger, ``lstm-tui export`` writes a trace."""

from __future__ import annotations

import os
import shlex
import signal
import sys
import warnings
from pathlib import Path

from ..core.errors import UserError, inert, install_hint
from .parser import EXAMPLE_TEXT, build_parser, glue

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
    from ..core.registry import DEFAULT, load_model
    from ..formats import is_model_path

    spec = _spec(args, default or DEFAULT)
    if (args.prefix is not None or args.vocab is not None or args.head_activations is not None
            or args.head_pool is not None) and not is_model_path(spec):
        raise UserError("--prefix, --vocab, --head-activations and --head-pool apply to a weights file given with "
                        "--model PATH")
    if spec != "random" and args.model and any(getattr(args, o) is not None for o in _RANDOM_OPTIONS):
        given = ", ".join(f"--{o}" for o in _RANDOM_OPTIONS if getattr(args, o) is not None)
        raise UserError(f"{given}: only for the random model, not for --model {spec}")
    if spec == "random":
        return load_model("random", **_random_options(args))
    return load_model(spec, prefix=args.prefix, vocab_path=args.vocab, head_activations=args.head_activations,
                      head_pool=args.head_pool)


def _retokenize(args, model):
    """For the random model: the same model with another tokenizer (the app's w key)."""
    if not model.name.startswith("random"):
        return None
    from ..core.registry import load_model

    def build(tokenizer: str):
        return load_model("random", **_random_options(args, tokenizer))

    return build


def _text(args, model) -> str:
    """--text, --text-file, or else the example the model's file carries (the demos have one), or EXAMPLE_TEXT."""
    if args.text is not None and args.text_file is not None:
        raise UserError("give --text or --text-file, not both")
    if args.text_file is not None:
        from ..core.inputs import read_text

        return _last_line_end(model, read_text(args.text_file))
    if args.text is not None:
        return _from_argv(args.text)
    return model.start_text(EXAMPLE_TEXT)


def _from_argv(text: str) -> str:
    """Text from the command line with bytes that were not UTF-8 made into U+FFFD, as a text file would."""
    return os.fsencode(text).decode("utf-8", "replace")


def _frames(args, model):
    """The --inputs frames [T, E] checked against the model, or None to feed text."""
    from ..core.inputs import load_frames

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
    from ..core.tokenize import is_empty

    text = _text(args, model)
    if is_empty(text, model.tokenizer):
        if args.text_file is not None:
            where = inert(args.text_file)
        elif args.text is not None:
            where = f"--text {inert(shlex.quote(args.text))}"
        else:  # the example a model file carries
            where = f"the example text of {inert(model.name)!r}"
        words = {"word": " (no words)", "char": ""}.get(model.tokenizer, " (no TextVectorization tokens)")
        raise UserError(f"{where}: the sequence is empty{words}: expected at least one token "
                        f"({_NOTHING_TO.get(args.command, 'nothing to run')})")
    _all_unknown(model, text)
    return text


def _last_line_end(model, text: str) -> str:
    """A text file's last line end (LF, CRLF or CR) left out, a character at a time, where the model's characters
    do not include it (the file's end, not a token to read as unknown); a model that knows line ends (a char LM
    trained on lines) reads it. A tokenizer of words reads no line end anyway."""
    from ..core import tokenize

    if model.vocab is None or not model.takes_tokens or tokenize.split("ab", model.tokenizer) != ["a", "b"]:
        return text
    cut = text
    for end in ("\n", "\r"):
        if cut.endswith(end) and end not in model.vocab:
            cut = cut[:-1]
    if cut != text:
        from ..core.model import add_note

        add_note(model.meta, "the text file's last line end is left out: this model's vocabulary has no line end")
    return cut


def _all_unknown(model, text: str) -> None:
    """A note (printed with the reader's) when no token of the text is in the vocabulary: words typed to a model
    that reads ids, or text in another alphabet. Looks at the first 10,000 characters."""
    from ..core.model import add_note
    from ..core.tokenize import encode

    if model.vocab is None or not model.takes_tokens:
        return
    tokens = model.tokens(text[:10_000])
    if not tokens or not encode(tokens, model.vocab)[1].all():
        return
    if all(t == str(i) for i, t in enumerate(model.vocab[:100])):  # the file's ids are its tokens
        hint = f"this model's tokens are its ids: type numbers from 0 to {len(model.vocab) - 1}, or give --vocab"
    else:
        hint = f"its {len(model.vocab)} tokens do not include them"
    add_note(model.meta, f"none of the {len(tokens)} tokens of the text is in the vocabulary, so each is read as "
                         f"unknown: {hint}")


def _trace(args, model):
    return model.trace(_inputs(args, model))


def _compile_if_long(model, inputs) -> None:
    """Start the compiled step loop (numba, in the background) for an input that would take
    NumPy more than half a second: the chunks after it is ready use it. A short command never waits for it."""
    from ..core import compiled
    from ..core.checkpoint import step_seconds

    if len(inputs) * step_seconds(model) > 0.5:
        compiled.warm_up()


def _export(args) -> int:
    from ..core.export import write_npz, write_trace

    if args.sets:
        from ..core.interventions import parse_patch_text

        for text in args.sets:  # syntax first, before anything is loaded or run
            parse_patch_text(text)
    model = _load(args)
    if args.target is not None and not args.grad:
        raise UserError("--target goes with --grad")
    if args.grad and not str(args.output).lower().endswith(".npz"):
        raise UserError(f"{args.output}: --grad writes .npz files only")
    _refuse_overwriting_inputs(args)
    inputs = _inputs(args, model)
    if not args.sets:
        _source(args, model, run=False)
    _compile_if_long(model, inputs)
    suffix = Path(args.output).suffix.lower()
    if args.sets and args.grad:
        raise UserError("--grad and --set: gradients of a patched run are not defined; export without --grad")
    if suffix == ".npz" and not args.grad and not args.sets:  # any length: a chunk at a time, straight into the file
        from ..core.stream import write_npz_stream

        path, steps = write_npz_stream(model, inputs, args.output, force=args.force)
        _print_notes(model)
        print(f"wrote {path}: {steps} steps, {model.num_layers} layer(s), {_widths(model)}")
        return 0
    if suffix in (".csv", ".json"):  # refused before a long input is traced whole
        from ..core.stream import check_text_size

        check_text_size(model, inputs, args.output)
    trace = model.trace(inputs)
    if args.sets:  # a patched run is traced whole: patches reach everything after them
        trace = _patched(args, model, trace)
    if args.grad:
        from ..core.gradients import export_gradients

        target = args.target or ("top" if trace.has_head else "sum-h")
        if target == "top" and not trace.has_head:
            raise UserError(f"--target top needs a model with an output head; {model.name!r} has none: use sum-h")
        path = write_npz(trace, args.output, force=args.force, extra=export_gradients(model, trace, target))
    else:
        path = write_trace(trace, args.output, force=args.force)
    _print_notes(model)
    print(f"wrote {path}: {trace.steps} steps, {trace.num_layers} layer(s), {_widths(trace)}")
    return 0


def _source(args, model, run: bool = True):
    """The clean trace of --source-text / --source-inputs, or None without one; checked and not run
    (None) when the command has no use for it (``run`` False): a source given is never ignored unread."""
    if args.source_text is not None and args.source_inputs is not None:
        raise UserError("give --source-text or --source-inputs, not both")
    if args.source_inputs is not None:
        from ..core.inputs import load_frames

        source = load_frames(args.source_inputs, model.input_size)
    elif args.source_text is not None:
        from ..core.tokenize import is_empty, label

        if not model.takes_tokens:
            raise UserError(f"model {model.name!r} reads feature frames: give the source with --source-inputs")
        source = _from_argv(args.source_text)
        if is_empty(source, model.tokenizer):
            raise UserError(f"--source-text {inert(source)!r} has no {label(model.tokenizer)} tokens: give a sequence")
    else:
        return None
    return model.trace(source) if run else None


def _patched(args, model, trace):
    """The run with every --set applied (checked against the model and inputs first)."""
    from ..core.interventions import intervene, nonfinite, parse_patch

    source = _source(args, model)
    steps = None if source is None else source.steps
    patches = [parse_patch(text, model, trace.steps, steps) for text in args.sets]
    patched = intervene(model, trace, patches, source)
    if where := nonfinite(patched):
        print(f"lstm-tui: warning: after the patches, {where}", file=sys.stderr)
    return patched


def _sweep(args) -> int:
    import numpy as np

    from ..core.export import atomic_write
    from ..core.interventions import NUMBER, EffectMap
    from ..core.outcomes import names_outputs

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
        "token": np.array(emap.label if names_outputs(model) else str(emap.token)),  # the text, or the id
        "token_id": np.array(emap.token),
        "clean_logp": np.array(emap.clean_logp),
    }
    path = atomic_write(args.output, lambda fh: np.savez(fh, **arrays), force=args.force)
    _print_notes(model)
    maps = (("the effect map", effect), ("the estimate", estimate))  # a value of inf: the estimate's
    counts = [(n, what) for what, a in maps if (n := int((~np.isfinite(a)).sum()))]
    if counts:  # one line for both
        verb = "is" if [n for n, _ in counts] == [1] else "are"
        said = " and ".join(f"{n} cell{'s' * (n > 1)} of {what}" for n, what in counts)
        print(f"lstm-tui: warning: {said} {verb} not finite (NaN or inf)", file=sys.stderr)
    print(
        f"wrote {path}: effect [{trace.steps}, {emap.width}] on log p({emap.label!r}) at step {args.step}, "
        f"{args.quantity} of layer {args.layer} set to {args.value}"
    )
    return 0


def _print_notes(model) -> None:
    """The reader's notes on the file, one "note: …" line each on stderr (stdout stays the command's own),
    once the command has done its work: a refusal stays one line."""
    for line in model.notes:
        print(f"note: {inert(line)}", file=sys.stderr)


def _widths(trace) -> str:
    """H=32 when every layer and quantity has that width, else each layer's widths of h (and c).
    Of a trace or of the model it came from."""
    from ..core.cells import QUANTITIES

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
    from rich.measure import Measurement
    from rich.table import Table

    from ..core import tracing
    from ..render.show import step_report

    model = _load(args)
    inputs = _inputs(args, model)
    _source(args, model, run=False)
    tokens, _, _, frames = model.prepare(inputs)
    steps = len(tokens)
    if not 1 <= args.step <= steps:
        raise UserError(f"--step {args.step}: expected a step from 1 to {steps}")
    if not model.bidirectional:  # the steps after it cannot change step T: they are not run
        inputs = tokens[: args.step] if frames is None else frames[: args.step]
    _compile_if_long(model, inputs)
    trace = tracing.trace(model, inputs)  # a long one kept as checkpoints: the step's window is recomputed
    if not 1 <= args.layer <= trace.num_layers:
        raise UserError(f"--layer {args.layer}: expected a layer from 1 to {trace.num_layers}")
    units = max(trace.width(q, args.layer - 1) for q in trace.quantities)  # a projected LSTM's gates are wider than h
    if not 0 <= args.unit < units:
        raise UserError(f"--unit {args.unit}: expected a unit from 0 to {units - 1}")
    report = step_report(model, trace, args.layer - 1, args.step - 1, args.unit, steps)
    _print_notes(model)
    console = Console(soft_wrap=False)
    # the tables at their full width, however narrow the terminal (it wraps them), not each number cut to "-…"
    wide = console.options.update_width(10_000)
    tables = [r for r in report.renderables if isinstance(r, Table)]
    need = max((Measurement.get(console, wide, table).maximum for table in tables), default=0)
    (Console(soft_wrap=False, width=need) if need > console.width else console).print(report)
    return 0


def _serve(args, argv: list[str]) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UserError(f"lstm-tui serve needs textual-serve: {install_hint('serve')}") from None
    _load(args)  # fail here, with one line, rather than in the browser
    _check_listening(args.host, args.port)
    forwarded = [a for a in _app_arguments(argv)]
    command = " ".join(shlex.quote(a) for a in [sys.executable, "-m", "lstm_tui", *forwarded])

    class Served(Server):
        async def handle_index(self, request):
            # the page's scripts and socket at the address the browser used, not at --host: 0.0.0.0 is no
            # address to a browser, and an ssh tunnel reaches the server at another (plain http either way)
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

    everywhere = args.host in ("0.0.0.0", "::")
    if args.host == "0.0.0.0":
        import socket

        url = f"http://{socket.gethostname()}:{args.port}"
    elif args.host == "::":  # IPv6 alone, which a machine's name may not resolve to
        url = f"http://[::1]:{args.port}"
    else:
        url = f"http://{f'[{args.host}]' if ':' in args.host else args.host}:{args.port}"
    every = f" (every IPv{4 if args.host == '0.0.0.0' else 6} interface)" if everywhere else ""
    print(f"serving lstm-tui on {url}{every} (ctrl+c stops)", file=sys.stderr)
    try:
        Served(command, host=args.host, port=args.port, title="lstm-tui", public_url=url).serve()
    except OSError as exc:  # taken between the check and the server's start
        raise UserError(f"cannot listen on {args.host}:{args.port} ({inert(str(exc))})") from None
    return 0


def _check_listening(host: str, port: int) -> None:
    """Refuse, in one line, an address the server could not listen on: an empty or unknown host (an empty one
    would listen on every interface), a port in use."""
    import errno
    import socket

    if not host.strip():
        raise UserError("--host '': expected an address to listen on, such as 127.0.0.1 (0.0.0.0 is every interface)")
    try:
        places = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UserError(f"--host {inert(host)!r}: not an address of this machine ({inert(str(exc))})") from None
    for family, kind, proto, _, address in places:
        try:
            probe = socket.socket(family, kind, proto)
        except OSError:  # a family this machine has no stack for: the server skips it too
            continue
        with probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does
            if family == socket.AF_INET6:  # as asyncio's server does: IPv6 alone, beside an IPv4 listener
                probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                in_use = exc.errno == errno.EADDRINUSE
                why = "in use: choose another with --port" if in_use else inert(exc.strerror or str(exc))
                raise UserError(f"cannot listen on {inert(host)}:{port}: {why}") from None


def _app_arguments(argv: list[str]) -> list[str]:
    """The app's own options out of a ``serve`` command line (without serve, --host, --port); ``argv`` as
    glue() left it, with every option's value joined to it (a value 'serve' is no bare word)."""
    out, skip, command = [], False, True
    for a in argv:
        if skip:
            skip = False
        elif a == "serve" and command:
            command = False
        elif a in ("--host", "--port"):
            skip = True
        elif a.startswith(("--host=", "--port=")):
            continue
        else:
            out.append(a)
    return out


def _list_models() -> int:
    from ..core.registry import BUILTIN, DEFAULT

    width = max(map(len, BUILTIN))  # the longest name's, so every description starts in one column
    for name, line in BUILTIN.items():
        print(f"{name:<{width}}  {line}{'  (default)' if name == DEFAULT else ''}")
    return 0


def _run_app(args) -> int:
    """The app, on the model the options name; without one, on the built-in model used last."""
    from ..core.registry import DEFAULT, is_builtin
    from ..settings import load as load_settings
    from ..settings import save as save_settings

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
    from ..app import LstmApp

    app = LstmApp(
        model, text=text, frames=frames, retokenize=_retokenize(args, model), settings=settings,
        source=source, source_text=args.source_text or "", warnings=(warning,) if warning else (),
    )
    app.run()
    return app.return_code or 0  # non-zero if the app stopped on an error


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input)."""
    argv = glue(sys.argv[1:] if argv is None else list(argv))
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
            from .. import __version__  # looked up only when asked for: importlib.metadata is slow to import

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
