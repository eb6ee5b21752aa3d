"""The command line's grammar: options, subcommands and their help; ``glue`` readies argv for it."""

from __future__ import annotations

import argparse

from ..core.cells import CELLS
from ..core.errors import clip, inert, install_hint, whole_number

#: The long options that take a value. A value may begin with '-' (a negative number, any text), which
#: argparse takes for an option unless it reads as -5 or -0.5, so glue() joins each to its option
#: (--value=-1e-3); joined, no value is a bare word either (serve's forwarding drops the word 'serve').
FREE_VALUES = ("--model", "--prefix", "--vocab", "--head-activations", "--head-pool", "--inputs", "--text", "--text-file", "--tokens", "--seed", "--hidden",
               "--cell", "--layers", "--source-text", "--source-inputs", "--output", "--set", "--target", "--step",
               "--layer", "--unit", "--quantity", "--value", "--token", "--host", "--port")
OPTION_WORDS = ("-h", "-o")  # the short options: never a value to glue


def glue(argv: list[str]) -> list[str]:
    """``argv`` with each of FREE_VALUES joined to its value (``--text -x`` is ``--text=-x``), unless what
    follows is an option (``--text --model m`` stays an error for argparse to word)."""
    out, k = [], 0
    while k < len(argv):
        a = argv[k]
        if a in FREE_VALUES and k + 1 < len(argv) and not argv[k + 1].startswith("--") and \
                argv[k + 1] not in OPTION_WORDS:
            out.append(f"{a}={argv[k + 1]}")
            k += 2
        else:
            out.append(a)
            k += 1
    return out


EXAMPLE_TEXT = "the cat sat on the mat."


def whole(text: str) -> int:
    """A whole number, whatever its range: the command checks that (``--step 0: expected a step from 1 to 15``;
    one of 5,000 digits too, clipped: ``whole_number``). The text is echoed clipped."""
    bad = argparse.ArgumentTypeError(f"expected a whole number, got '{clip(text)}'")
    if not text.strip().lstrip("+-").isascii():  # int() reads other scripts' digits: not a number to other tools
        raise bad
    try:
        return whole_number(text)
    except ValueError:
        raise bad from None


def positive(text: str) -> int:
    n = whole(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a number of at least 1, got {n}")
    return n


def _seed(text: str) -> int:
    n = whole(text)
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
        ".npz (PyTorch state_dict or Keras weights), .pt/.pth (PyTorch's own, read without it), .keras/.weights.h5 (Keras 3), "
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
        help="vocabulary for a weights file that carries none: one token per line, UTF-8 (or a .json list, or a .json object of token -> id)",
    )
    g.add_argument(
        "--head-activations",
        metavar="ACT[,ACT...]",
        help="the activations of a PyTorch state dict's hidden head layers (fc1, ReLU, fc2), which the file does "
        "not keep: relu, tanh, sigmoid, elu, leaky_relu (=slope), softplus, softsign, hardsigmoid, identity; "
        "one for each hidden layer, in order",
    )
    g.add_argument(
        "--head-pool",
        choices=("max", "mean"),
        help="a PyTorch state dict's head reads the max or mean of the last layer's h over the steps "
        "(out.max(1), out.mean(1)), which the file does not say: y at step t is the head on the pool of steps 1..t",
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
    g.add_argument("--hidden", type=positive, metavar="N", help="hidden size H of the random model (24)")
    g.add_argument("--cell", choices=CELLS, help="cell of the random model (lstm)")
    g.add_argument("--layers", type=positive, metavar="N", help="layers of the random model (1)")
    g.add_argument("--source-text", metavar="TEXT", help="a second input whose run --set ...=src copies from")
    g.add_argument("--source-inputs", metavar="FRAMES.npy", help="the source input as feature frames [T, E]")
    return p


class _Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line like every other lstm-tui error, and options only as spelled
    (no --val for --value: glue() and serve's forwarding know each option by its name)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

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
        ".csv: one row per number (step, token, layer, quantity, unit, value); .json: the same arrays as lists "
        "(NaN and inf as null).",
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
    show.add_argument("--step", type=whole, default=1, metavar="T", help="the step, from 1 (default 1)")
    show.add_argument("--layer", type=whole, default=1, metavar="N", help="the layer, from 1 (default 1)")
    show.add_argument("--unit", type=whole, default=0, metavar="J", help="the unit whose equations to write out, from 0 (default 0)")
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
    n = positive(text)
    if n > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {n}")
    return n


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
    sw.add_argument("--layer", type=whole, default=1, metavar="N", help="the layer, from 1 (default 1)")
    sw.add_argument("--value", required=True, metavar="V", help="the value each unit is set to: a number, or src")
    sw.add_argument("--step", required=True, type=whole, metavar="T", help="the target step, from 1")
    sw.add_argument("--token", metavar="TOK", help="the target token (default: the clean run's top-1 at T)")
    sw.add_argument("-o", "--output", required=True, metavar="F.npz", help="the file to write (.npz)")
    sw.add_argument("--force", action="store_true", help="overwrite F.npz if it exists")
