"""The keys that read or write files: export the trace, save a screenshot, open another model."""

from __future__ import annotations

import io
import os
import shlex
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.app import App
from textual.widgets import Input

from ..core import tracing
from ..core.breakpoints import compile_breakpoint, compile_expression
from ..core.checkpoint import CheckpointedTrace
from ..core.errors import InputError, UserError, clip, inert
from ..core.export import atomic_write, write_trace
from ..core.inputs import check_file
from ..widgets.prompt import PromptScreen
from .state import pin_fits


def frames_refusal(spec: str, input_size: int) -> str:
    """Why o does not open a model that reads feature frames, and the command line that does."""
    return (
        f"{inert(spec)}: reads feature frames (it has no embedding or vocabulary), which o cannot give it; "
        f"from the command line: lstm-tui --model {inert(shlex.quote(spec))} --inputs FRAMES.npy "
        f"(a float array [T, {input_size}])"
    )


def screenshot_svg(app: App) -> str:
    """The screen as it is now, as an SVG picture (what ``App.export_screenshot`` gives), drawn by a
    console that writes no escape codes. Rich keeps the escape codes of a style on the style the first
    time it writes them, for the colours of the console that wrote them; Textual's screenshot writes in
    true colour, so on a terminal of 256 or 16 colours every cell drawn after it came in true colour."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, color_system=None,
                      record=True, legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_svg(title=app.title)


#: The options of a model file that o takes after its path, as on the command line, and load_model's names.
OPEN_OPTIONS = {"--vocab": "vocab_path", "--prefix": "prefix", "--head-activations": "head_activations",
                "--head-pool": "head_pool"}


def open_spec(text: str) -> tuple[str, dict]:
    """What o was given: the model (a name or a path), and the options after it (OPEN_OPTIONS, as on the
    command line: ``--vocab v.json`` or ``--vocab=v.json``). A path may hold spaces, quoted or not."""
    from ..formats import is_model_path

    text = text.strip()
    if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"" and text[0] not in text[1:-1]:
        text = text[1:-1]  # a quoted path on its own
    if " --" not in text or os.path.exists(text):  # a name, or a path on its own (False for a name too long)
        return text, {}
    head, _, rest = text.partition(" --")
    try:
        if os.path.exists(head.strip()):  # an unquoted path with spaces, then the options
            spec, words = head.strip(), shlex.split("--" + rest, posix=os.name != "nt")
        else:
            spec, *words = shlex.split(text, posix=os.name != "nt")
    except ValueError as exc:  # a quote left open
        raise UserError(f"open: {exc}") from None
    options = {}
    while words:
        option, *value = words.pop(0).split("=", 1)
        if option not in OPEN_OPTIONS:
            raise UserError(f"open: unknown option {inert(option)!r} after the model (known: {', '.join(OPEN_OPTIONS)})")
        if not value and words and not words[0].startswith("--"):
            value = [words.pop(0)]
        if not value or not value[0]:
            raise UserError(f"open: {option} needs a value")
        options[OPEN_OPTIONS[option]] = value[0]
    if not is_model_path(spec):
        raise UserError(f"open: {', '.join(OPEN_OPTIONS)} apply to a model file, not {inert(spec)!r}")
    if os.path.exists(options.get("vocab_path", "")):  # the screen cannot wait on a pipe as the command line can
        check_file(Path(options["vocab_path"]), "a vocabulary file (the app reads no pipe)", UserError, regular=True)
    return spec, options


class Files:
    """Mixed into ``LstmApp``: export (e), screenshot (S), open a model (o)."""

    def action_export(self) -> None:
        hint = "a file name ending in .npz, .csv (one row per number) or .json"
        self.push_screen(PromptScreen("export the trace", hint, "trace.npz"), self._export_as)

    def _export_as(self, name: str | None) -> None:
        if not name or not name.strip():
            return
        if self.patching:  # the run on screen is not yet the patches'
            self.notify("the patched run is being computed: export it once it is done", severity="warning")
            return
        run = self.own_run  # never a difference (Δ, diff): its arrays would pass for a run's
        if isinstance(run, CheckpointedTrace):  # first: one being traced as checkpoints is refused now, not once traced
            steps = run.steps if self.tracing is None else self.tracing[1]
            self.notify(f"{steps:,} steps kept as checkpoints: too long to export whole here; the command "
                        f"line writes an .npz of any length: lstm-tui export -o {name.strip()} with the same model and "
                        "input options", severity="error", timeout=10)
            return
        if self.tracing is not None:  # the steps traced so far would be written as if they were the input
            done, total = self.tracing
            self.notify(f"the input is still being traced ({done:,} of {total:,} steps): export it once it is done",
                        severity="warning")
            return
        said = "" if run is self.trace else " (the run itself: a difference on screen is not exported)"
        self._write(name.strip(), lambda path, force: write_trace(run, path, force=force), said)

    def action_screenshot(self) -> None:
        hint = "an .svg file name for a picture of the screen as it is now"
        self.push_screen(PromptScreen("screenshot", hint, f"lstm-tui-t{self.k + 1}.svg"), self._save_screenshot_as)

    def _save_screenshot_as(self, name: str | None) -> None:
        if name and name.strip() and Path(name.strip()).suffix.lower() != ".svg":
            self.notify(f"{inert(name.strip())}: a screenshot is an SVG picture: give a name ending in .svg",
                        severity="error", timeout=8)
            return
        if name and name.strip():
            svg = screenshot_svg(self).encode("utf-8")
            self._write(name.strip(), lambda path, force: atomic_write(path, lambda fh: fh.write(svg), force=force))

    def _write(self, name: str, write: Callable, said: str = "", confirmed: bool = False) -> None:
        """Write a file, asking before replacing one that exists; ``said`` follows the path written.
        Served to a browser (``lstm-tui serve``), the file is the browser's download instead: nothing is
        written where the server runs (a shared folder, any path the server's user may write)."""
        if self.is_web:
            self._deliver(name, write, said)
            return
        path = Path(name).expanduser()
        if path.exists() and not path.is_dir() and not confirmed:

            def answer(text: str | None) -> None:
                if text is not None and text.strip().lower() in ("y", "yes"):
                    self._write(name, write, said, confirmed=True)
                else:
                    self.notify(f"{path}: kept as it was")

            self.push_screen(PromptScreen("overwrite?", f"{path} exists. Type y and Enter to replace it."), answer)
            return
        try:
            written = write(path, confirmed)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        self.notify(f"wrote {written}{said}")

    def _deliver(self, name: str, write: Callable, said: str) -> None:
        """The file made in a folder of its own, handed to the browser as a download, and removed."""
        import shutil
        import tempfile

        base = Path(name).name or "download"
        folder = tempfile.mkdtemp(prefix="lstm-tui-")
        try:
            written = write(Path(folder) / base, False)
            self.deliver_binary(written, save_filename=base)  # opens the file at once: it can go after
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self.notify(f"sent {inert(base)} to the browser as a download{said}")

    def action_open_model(self) -> None:
        from ..core.registry import BUILTIN
        from ..formats.registry import suffix_list

        hint = (f"a built-in name ({', '.join(BUILTIN)}) or a model file ({suffix_list()}), then any of "
                "--vocab FILE, --prefix NAME, --head-activations ACT[,ACT...], --head-pool max|mean")
        self.push_screen(PromptScreen("open a model", hint), self._open_model)

    def _open_model(self, spec: str | None) -> None:
        """Load ``spec`` whole, then switch to it; a model that fails to load changes nothing."""
        if spec is None or not spec.strip():
            return
        from ..core.registry import load_model

        try:
            spec, options = open_spec(spec)
            model = load_model(spec, **options)
            if not model.takes_tokens:
                raise UserError(frames_refusal(spec, model.input_size))
            text = model.start_text(self.text)
            trace = tracing.trace(model, text, self.FULL_TRACE_BYTES)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=8)
            return
        except Exception as exc:  # a reader's own bug must not close the app and lose the session
            self.notify(f"{spec}: could not be opened ({type(exc).__name__}: {exc}); the model on screen "
                        "is kept", severity="error", timeout=8)
            return
        self._trace_gen += 1  # a worker still tracing for the old model is now stale
        self.workers.cancel_group(self, "trace")
        self.tracing = None
        self.model, self.frames, self.retokenize = model, None, None
        self.sub_title = model.name
        self.text = text
        self.query_one("#input", Input).value = text if self._text_fits_input() else ""
        dropped = self._carry_over(trace)
        self.refused.clear()  # texts refused for the old model
        self.set_trace(trace)
        self.notify(f"opened {model.name}" + (f"; dropped what it cannot read: {dropped}" if dropped else ""))
        self._show_notes()

    def _carry_over(self, trace) -> str:
        """Keep the breakpoints, watches and pinned units the new model's trace can still read (a model
        retrained, another checkpoint of it), each checked again against its cell, head and widths; the
        rest are dropped, and said: their count and the first one's reason."""
        cell, head, layers = trace.cell, trace.has_head, trace.num_layers
        dropped: list[str] = []
        # A breakpoint is tried at the first step, as b tries it at the step on screen: an index out of
        # this model's widths (c[40] of a 24-unit cell) fails there, not at the next c.
        probe = None
        if trace.steps:
            probe = trace.window(0, min(2, trace.steps)) if isinstance(trace, CheckpointedTrace) else trace

        def breakpoint_for(text: str, cell: str, head: bool):
            bp = compile_breakpoint(text, cell, head)
            if probe is not None:
                bp.test(probe, 0, 0, vocab=self.model.vocab)
            return bp

        def keeps(text: str, layer: int, compile_it):
            try:
                if layer >= layers:
                    raise InputError(f"this model has {layers} layer{'s' * (layers > 1)}")
                return compile_it(text, cell, head)
            except InputError as exc:
                dropped.append(f"{clip(text)!r} ({clip(str(exc), 80)})")
                return None

        breakpoints = []
        for bp in self.breakpoints:
            new = keeps(bp.text, 0, breakpoint_for)
            if new is not None:
                new.enabled = bp.enabled
                breakpoints.append(new)
        self.breakpoints[:] = breakpoints
        self.watch_exprs[:] = [[t, layer, None] for t, layer, _ in self.watch_exprs
                               if keeps(t, layer, compile_expression)]
        pins = [pin for pin in self.watched if pin_fits(trace, pin)]
        dropped += [f"unit {unit} of {q} (layer {layer + 1})" for q, layer, unit in self.watched
                    if (q, layer, unit) not in pins]
        self.watched[:] = pins
        return f"{len(dropped)}: {dropped[0]}" + (" …" if len(dropped) > 1 else "") if dropped else ""
