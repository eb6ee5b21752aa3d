"""lstm-tui's speed figures (issue 5), printed as one table.

Run from the repository root::

    python benchmarks/run.py            # full sizes, two or three minutes
    python benchmarks/run.py --quick    # T = 2,000 and fewer repeats, a few seconds
    python benchmarks/run.py --scaling  # and a second table: time per step as T and H grow
    python benchmarks/run.py --no-app   # without the figures measured through the app

Figures (each measured in a fresh child process, so one library's threads or
caches cannot slow the other's; the NumPy and PyTorch children alternate for
a few rounds, and every time is the best of all its repeats):

- trace throughput: ``Model.trace`` on float32 frames, T = 10,000, H = 256,
  E = 64, one LSTM layer, recording every gate, cᵗ and hᵗ, by the compiled
  loop (numba, when installed) and by NumPy's loop, against PyTorch's
  ``nn.LSTM`` forward (which records only h) on the same weights and input.
  Both sides use 2 threads: ``torch.set_num_threads(2)``, and NumPy's BLAS
  limited to 2 through threadpoolctl. The PyTorch row appears when PyTorch is
  installed; threadpoolctl is optional too (without it the BLAS is not named
  and not limited).
- OpenBLAS environment: if ``OPENBLAS_CORETYPE`` or ``OPENBLAS_L2_SIZE`` is set,
  the NumPy side runs once more with both unset, to show whether they choose a
  slower kernel. The benchmark never changes them for anything else.
- core import: ``import lstm_tui.core`` in a fresh interpreter, best of N.
- time to first frame: ``lstm-tui`` with no arguments started in a
  pseudo-terminal (120×40), until the terminal has received step 1's screen;
  best of N (POSIX only).
- step latency: through the app (``App.run_test``, headless), from a key
  event (``n``) to the last frame it causes, the frame's escape codes
  included (``render_segments``, which a headless app skips); keys 40 ms
  apart so Textual's 60 fps throttle never holds a frame back. H = 1024,
  2 LSTM layers, a vocabulary of 10,000 words, 160×50; and H = 64, one
  layer, 80×24. Median and p95 of N keys.
- step 1 after Enter: T = 100,000 words typed in the input line of the
  H = 1024 model, from the Enter key event to the first frame showing step
  1 of the new input (traced in a worker); median of a few Enters. Then
  20 step keys while the worker traces on, each to its frame.
- memory at scale: T = 1,000,000 characters, H = 128, one LSTM layer, kept
  as checkpoints; peak RSS (``resource.getrusage``) of the child after the
  trace and after the app has shown it and jumped around. The peer is the
  size of a full trace of the same input.
- jump: Home, End and 20 jumps to random steps (what go-to-step does) of
  that trace, through the app, each to its first frame (the step on screen)
  and to its last (the history's text around it coloured, which the app
  finishes after the first frame): median and worst; the trace built by
  NumPy's loop, and (numba installed) by the compiled loop.
- export memory: ``lstm-tui export`` of a million characters in a child
  process, its peak RSS from ``RUSAGE_CHILDREN``, against 500 MB.

Each figure prints the 1-minute load average it was measured at.

Nothing here is a test: the numbers depend on the machine and are never
asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREADS = 2  # both sides of the throughput comparison
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

# Targets from issue 5.
TARGET_RATIO = 1.2  # trace time / PyTorch forward time
TARGET_IMPORT = 0.15  # seconds
TARGET_FIRST_FRAME = 0.6  # seconds
TARGET_STEP = (0.008, 0.016)  # seconds, median and p95 from a step key to its frame
TARGET_ENTER = 0.1  # seconds from Enter on a long input to step 1 on screen
TARGET_RSS = 500 * 2**20  # bytes, peak, 1,000,000 tokens at H = 128
TARGET_JUMP = 0.05  # seconds from a jump to its frame, 1,000,000 tokens


# ---------------------------------------------------------------------------
# Child processes: each prints one JSON object on its last line.


def _limit_blas(threads: int):
    """threadpoolctl's limiter and BLAS description, or (None, {}) without it."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        return None, {}
    from lstm_tui.core.blas import _off_main

    # Set from a thread other than the main one, as core.blas sets its own limit: once the main
    # thread has set OpenBLAS's count (0.3.31, pthreads), counts set by other threads are ignored,
    # and the recomputes' one-thread limit would not take.
    limiter = _off_main(lambda: threadpool_limits(threads))
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    info = blas[0] if blas else {}
    return limiter, {
        "blas": info.get("internal_api", "?"),
        "blas_version": info.get("version", "?"),
        "blas_kernel": info.get("architecture", "?"),
        "blas_threads": info.get("num_threads", "?"),
    }


def _best(fn, repeat: int) -> float:
    """Best wall time of ``repeat`` calls, after one untimed warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _model_and_frames(T: int, H: int, E: int):
    import numpy as np

    from lstm_tui.core import Model, random_model

    layer = random_model(hidden=H, embed=E, seed=0, dtype="float32").layers[0]
    x = np.random.default_rng(1).standard_normal((T, E)).astype(np.float32)  # (T, E)
    return Model(layers=(layer,), name="bench"), x


def _compiled_info(wait: bool) -> dict:
    """Get the compiled loop ready (numba; the seconds it took: a compile, or a load from numba's cache)."""
    from lstm_tui.core import compiled

    t0 = time.perf_counter()
    ok = compiled.warm_up(wait=True) if wait else False
    info = {"compiled": ok, "compiled_status": compiled.status(), "compile_seconds": time.perf_counter() - t0}
    if ok:
        import numba

        info.update(numba=numba.__version__, numba_threads=numba.get_num_threads(), numba_layer=numba.threading_layer())
    return info


def child_numpy(T: int, H: int, E: int, repeat: int, trace_only: bool = False) -> dict:
    """Model.trace over frames by NumPy's loop and by the compiled loop (numba, when
    installed), alternating repeats; also cells.run alone and the bare W_hh·h loop."""
    import numpy as np

    from lstm_tui.core import compiled, run

    limiter, info = _limit_blas(THREADS)
    info.update(_compiled_info(wait=True))
    model, x = _model_and_frames(T, H, E)
    layer = model.layers[0]
    h0 = np.zeros(H, dtype=np.float32)
    W_hh = np.ascontiguousarray(layer.W_hh)  # (4H, H)
    W_hhT = np.ascontiguousarray(layer.W_hh.T)  # (H, 4H)
    hW = np.empty(4 * H, dtype=np.float32)

    def gemv_only():  # the faster of the two layouts: which one wins depends on the BLAS kernel
        t0 = time.perf_counter()
        for _ in range(T):
            np.dot(W_hh, h0, out=hW)
        t1 = time.perf_counter()
        for _ in range(T):
            np.dot(h0, W_hhT, out=hW)
        t2 = time.perf_counter()
        return min(t1 - t0, t2 - t1)

    def numpy_trace():
        with compiled.using(False):
            model.trace(x)

    def compiled_trace():
        with compiled.using(True):
            model.trace(x)

    out = {"numpy": np.__version__, **info, "load": _load()}
    kinds = {"trace": numpy_trace, **({"trace_compiled": compiled_trace} if info["compiled"] else {})}
    for kind, fn in kinds.items():
        fn()  # warm-up
    best = dict.fromkeys(kinds, float("inf"))
    for _ in range(repeat):  # alternating, so that a busy moment lands on both
        for kind, fn in kinds.items():
            t0 = time.perf_counter()
            fn()
            best[kind] = min(best[kind], time.perf_counter() - t0)
    out.update(best)
    if info["compiled"]:
        with compiled.using(False):
            slow = model.trace(x[:2000])
        with compiled.using(True):
            fast = model.trace(x[:2000])
        out["max_paths_diff"] = max(float(np.abs(fast.states[q] - slow.states[q]).max()) for q in slow.states)
    if not trace_only:
        with compiled.using(False):
            out["run"] = _best(lambda: run(layer, x, h0, h0), repeat)
        out["gemv"] = min(gemv_only() for _ in range(repeat + 1))
    del limiter
    return out


def child_torch(T: int, H: int, E: int, repeat: int, trace_only: bool = False) -> dict:
    """PyTorch's nn.LSTM forward on the same weights and frames."""
    try:
        import torch
    except ImportError:
        return {"torch": None}
    import numpy as np

    torch.set_num_threads(THREADS)
    model, x = _model_and_frames(T, H, E)
    layer = model.layers[0]
    lstm = torch.nn.LSTM(E, H)
    with torch.no_grad():
        for name, value in (("weight_ih_l0", layer.W_ih), ("weight_hh_l0", layer.W_hh),
                            ("bias_ih_l0", layer.b_ih), ("bias_hh_l0", layer.b_hh)):
            getattr(lstm, name).copy_(torch.from_numpy(value))
        xt = torch.from_numpy(x)
        seconds = _best(lambda: lstm(xt), repeat)
        if trace_only:
            return {"torch": torch.__version__, "forward": seconds, "load": _load()}
        torch.set_num_threads(1)
        one_thread = _best(lambda: lstm(xt), repeat)
        torch.set_num_threads(THREADS)
        h_torch = lstm(xt)[0].numpy()  # (T, H)
    h_ours = model.trace(x[: min(T, 2000)]).states["h"][0]
    return {
        "load": _load(),
        "torch": torch.__version__,
        "forward": seconds,
        "forward_1": one_thread,
        "max_h_diff": float(np.abs(h_ours - h_torch[: len(h_ours)]).max()),
        "mkldnn": bool(torch.backends.mkldnn.is_available()),
    }


CHILDREN = {"numpy": child_numpy, "torch": child_torch}


def _child_env(unset: tuple[str, ...] = ()) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in unset}
    # A user's Python writes each module's bytecode on its first run and reads it after; a machine
    # that sets PYTHONDONTWRITEBYTECODE compiles every module of the package at every start
    # instead (about 0.15 s of the first frame here). Untimed first runs write it.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def _run_child(
    kind: str, args, unset: tuple[str, ...] = (), T: int | None = None, H: int = 256, trace_only: bool = False
) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "-T", str(T or args.T), "--hidden", str(H)]
    cmd += ["--repeat", str(args.repeat)] + (["--trace-only"] if trace_only else [])
    out = subprocess.run(cmd, capture_output=True, text=True, env=_child_env(unset), cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {kind!r} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _keep_best(best: dict | None, new: dict) -> dict:
    """Merge two children's answers, keeping the smaller of every time."""
    if best is None:
        return {**new, "loads": [new.get("load")]}
    times = ("trace", "trace_compiled", "run", "gemv", "forward", "forward_1")
    merged = {**new, **{k: min(best[k], new[k]) for k in times if k in new and k in best}}
    merged["loads"] = best.get("loads", [best.get("load")]) + [new.get("load")]  # the load of every child run
    return merged


def _load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:  # not available on this platform
        return "?"


# ---------------------------------------------------------------------------
# Start-up figures.


def import_time(repeat: int, module: str = "lstm_tui.core", hide: str | None = None) -> float:
    """Best time of ``import module`` inside a fresh interpreter (with ``hide`` made
    unimportable first, as if it were not installed)."""
    code = f"import sys; sys.modules[{hide!r}] = None; " if hide else ""
    code += f"import time; t0 = time.perf_counter(); import {module}; print(time.perf_counter() - t0)"
    best = float("inf")
    for k in range(repeat + 1):  # the first untimed: it writes the bytecode
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_child_env(), cwd=ROOT)
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        if k:
            best = min(best, float(out.stdout))
    return best


FRAME_SIZE = (120, 40)  # columns, rows of the pseudo-terminal
QUIET = 0.05  # seconds without output that end a frame (the input's cursor blinks every 0.5 s)
FIRST_FRAME_MARK = re.compile(r"t = 1 / \d+")  # the status line of step 1: the trace is on screen
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")  # CSI, OSC, others


def _app_command() -> list[str]:
    """``lstm-tui`` as installed beside this Python, or ``python -m lstm_tui`` from the source tree."""
    script = Path(sys.executable).with_name("lstm-tui")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lstm_tui"]


def _one_first_frame(timeout: float = 15.0) -> float | None:
    """Start ``lstm-tui`` in a pseudo-terminal; seconds until step 1's screen has been written to it.

    The clock starts just before the process is spawned (so it includes the
    interpreter, every import, loading the default model, its trace and the
    first render) and stops at the last byte of the first frame that shows
    step 1's status line. The process is then ended. None if that never shows.
    """
    import fcntl
    import pty
    import select
    import signal
    import struct
    import termios

    master, slave = pty.openpty()
    cols, rows = FRAME_SIZE
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    env = _child_env()
    env.update(TERM="xterm-256color", COLUMNS=str(cols), LINES=str(rows))
    env.pop("NO_COLOR", None)
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        _app_command(), stdin=slave, stdout=slave, stderr=slave, env=env, cwd=ROOT, start_new_session=True
    )
    os.close(slave)
    seen, marked, last = "", False, None
    try:
        while time.perf_counter() - t0 < timeout:
            # Once step 1's status line has arrived, the frame is complete when
            # the terminal has been quiet for QUIET s: the time is its last byte.
            ready, _, _ = select.select([master], [], [], QUIET if marked else 0.05)
            if not ready:
                if marked or proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # the child closed the terminal
                break
            last = time.perf_counter()
            if not marked:
                seen += chunk.decode("utf-8", "replace")
                marked = bool(FIRST_FRAME_MARK.search(_ESCAPES.sub("", seen)))
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)
    return last - t0 if marked else None


def first_frame(repeat: int) -> float | None:
    """Best seconds from ``lstm-tui`` starting to its first frame (inf if it never
    showed one), or None without an app or a pseudo-terminal to run it in."""
    import importlib.util

    if not hasattr(os, "openpty") or importlib.util.find_spec("textual") is None:
        return None
    _one_first_frame()  # untimed: writes the bytecode a user's second start reads
    times = [t for t in (_one_first_frame() for _ in range(repeat)) if t is not None]
    return min(times) if times else float("inf")


# ---------------------------------------------------------------------------
# Children that run the app (headless): step latency, Enter on a long input,
# memory and jumps at a million tokens. Each prints one JSON object.


def _word_model(H: int, L: int, V: int, E: int = 64):
    """An untrained model with a vocabulary of V words ("w0", "w1", ..., "<unk>")."""
    import numpy as np

    from lstm_tui.core import Model, random_model

    base = random_model(hidden=H, layers=L, embed=E, seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    k = 1 / np.sqrt(H)
    return Model(
        layers=base.layers,
        embedding=rng.standard_normal((V, E)).astype(np.float32),
        head_W=rng.uniform(-k, k, (V, H)).astype(np.float32),
        head_b=rng.uniform(-k, k, V).astype(np.float32),
        vocab=tuple(f"w{j}" for j in range(V - 1)) + ("<unk>",),
        tokenizer="word",
        name=f"bench-H{H}",
    )


def _words(T: int, V: int, seed: int = 1) -> str:
    import numpy as np

    return " ".join(f"w{j}" for j in np.random.default_rng(seed).integers(0, V - 1, T))


def _watch_frames(app) -> list[float]:
    """Record when the app writes each frame (and pay for its escape codes, as a terminal would)."""
    frames: list[float] = []

    def display(screen, update) -> None:
        if update is not None and hasattr(update, "render_segments"):
            update.render_segments(app.console)
        frames.append(time.perf_counter())

    app._display = display
    return frames


async def _after(frames: list[float], n0: int, quiet: float = 0.03, timeout: float = 10.0) -> float:
    """Wait for the frames after the n0-th to stop coming; the time of the last one."""
    import asyncio

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        await asyncio.sleep(0.005)
        if len(frames) > n0 and time.perf_counter() - frames[-1] >= quiet:
            return frames[-1]
    raise RuntimeError("no frame came")


def _watch_views(app) -> list[float]:
    """Record when the app has pushed a step into its widgets (``refresh_view`` returning):
    the first frame after that shows the step."""
    pushed: list[float] = []
    inner = app.refresh_view

    def refresh_view() -> None:
        inner()
        pushed.append(time.perf_counter())

    app.refresh_view = refresh_view
    return pushed


async def _filled(app, frames: list[float], n0: int, quiet: float = 0.03, timeout: float = 10.0) -> float:
    """As :func:`_after`, and not before every history view has its text coloured (a long
    trace's history colours the steps of windows not yet recomputed after the frame, see
    ``HistoryView._fill``): the time of the last frame."""
    import asyncio

    from lstm_tui.widgets.history_view import HistoryView

    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        await asyncio.sleep(0.005)
        pending = any(getattr(v, "_pending", None) is not None and v.display for v in app.query(HistoryView))
        if not pending and len(frames) > n0 and time.perf_counter() - frames[-1] >= quiet:
            return frames[-1]
    raise RuntimeError("no frame came")


def _first_frame(frames: list[float], pushed: list[float], t0: float) -> float:
    """The time of the first frame after the first push of the step since t0."""
    at = next(t for t in pushed if t >= t0)
    return next(t for t in frames if t >= at)


async def _traced(app) -> None:
    import asyncio

    while app.tracing is not None or app.scanning is not None:
        await asyncio.sleep(0.02)


def child_latency(hidden: int, layers: int, vocab: int, cols: int, rows: int, steps: int, keys: int) -> dict:
    import asyncio
    import statistics

    from textual import events

    from lstm_tui.app import LstmApp

    async def run() -> dict:
        app = LstmApp(_word_model(hidden, layers, vocab), text=_words(steps, vocab))
        async with app.run_test(size=(cols, rows)) as pilot:
            await _traced(app)
            await pilot.pause()
            frames = _watch_frames(app)
            times = []
            for _ in range(keys):
                await asyncio.sleep(0.04)  # idle: the 60 fps throttle holds nothing back
                if app.k >= app.trace.steps - 1:
                    app.k = 0
                    await _after(frames, len(frames))
                n0, t0 = len(frames), time.perf_counter()
                app._driver.send_message(events.Key("n", "n"))
                times.append(await _after(frames, n0) - t0)
                assert len(frames) > n0
            times.sort()
            return {
                "load": _load(),
                "median": statistics.median(times),
                "p95": times[min(len(times) - 1, int(0.95 * len(times)))],
                "max": times[-1],
                "keys": keys,
            }

    return asyncio.run(run())


def child_enter(hidden: int, layers: int, vocab: int, steps: int, repeat: int) -> dict:
    import asyncio
    import statistics

    from textual import events
    from textual.widgets import Input

    from lstm_tui.app import LstmApp

    async def run() -> dict:
        app = LstmApp(_word_model(hidden, layers, vocab), text="w1 w2 w3")
        async with app.run_test(size=(160, 50)) as pilot:
            await _traced(app)
            _watch_frames(app)
            plain = app._display
            shown: list[tuple[float, int, int]] = []  # (time, input generation, steps) of each frame

            def display(screen, update) -> None:
                plain(screen, update)
                shown.append((time.perf_counter(), app._trace_gen, app.trace.steps))

            app._display = display
            times = []
            for n in range(repeat):
                box = app.query_one("#input", Input)
                box.value = _words(steps, vocab, seed=10 + n)
                box.focus()
                await pilot.pause()
                gen, t0 = app._trace_gen, time.perf_counter()
                app._driver.send_message(events.Key("enter", "\r"))
                first = None
                while first is None:  # the first frame of the new input with a step on it
                    await asyncio.sleep(0.002)
                    first = next((t for t, g, k in shown if t >= t0 and g > gen and k > 0), None)
                times.append(first - t0)
                assert app.tracing is not None  # still tracing: what showed is the first chunk
                await asyncio.sleep(0.3)
            box.blur()
            await asyncio.sleep(0.3)
            moves = []  # stepping within the steps computed while the worker goes on
            for _ in range(20):
                await asyncio.sleep(0.04)
                if app.k >= app.trace.steps - 2:
                    app.k = 0
                    await asyncio.sleep(0.05)
                t0 = time.perf_counter()
                app._driver.send_message(events.Key("n", "n"))
                while not any(t >= t0 for t, _, _ in shown):
                    await asyncio.sleep(0.002)
                moves.append(next(t for t, _, _ in shown if t >= t0) - t0)
            still = app.tracing is not None
            return {"load": _load(), "median": statistics.median(times), "max": max(times), "repeat": repeat,
                    "step_median": statistics.median(moves), "step_max": max(moves), "still_tracing": still}

    return asyncio.run(run())


def child_memory(steps: int, hidden: int, jumps: int, compiled: bool = False) -> dict:
    import asyncio
    import resource
    import statistics

    import numpy as np
    from textual import events

    from lstm_tui.core import random_model
    from lstm_tui.core.checkpoint import checkpointed, full_trace_bytes

    model = random_model(hidden=hidden, seed=0, dtype="float32")
    rng = np.random.default_rng(0)
    text = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz .,;()"), steps).tolist())
    from lstm_tui.core import compiled as loop
    from lstm_tui.core.checkpoint import one_blas_thread

    if compiled:
        loop.warm_up(wait=True)
    t0 = time.perf_counter()
    with loop.using(compiled):
        tr = checkpointed(model, text)
    build = time.perf_counter() - t0
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        blas = None  # recomputes run with the BLAS's own threads
    else:
        with one_blas_thread():  # what a window's recompute runs under
            blas = next((i["num_threads"] for i in threadpool_info() if i.get("user_api") == "blas"), None)
    rss_core = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux

    from lstm_tui.app import LstmApp

    async def run() -> list[float]:
        app = LstmApp(model, text="ab")
        async with app.run_test(size=(160, 50)) as pilot:
            app.set_trace(tr)
            await pilot.pause()
            frames = _watch_frames(app)
            pushed = _watch_views(app)
            times, firsts = [], []
            moves = ["end", "home"] + [int(k) for k in rng.integers(0, steps, jumps)]
            for move in moves:
                await asyncio.sleep(0.05)
                n0, t1 = len(frames), time.perf_counter()
                if isinstance(move, str):
                    app._driver.send_message(events.Key(move, None))
                else:
                    app.k = move  # what go-to-step does with the number typed
                times.append(await _filled(app, frames, n0) - t1)
                firsts.append(_first_frame(frames, pushed, t1) - t1)
            return times, firsts

    times, firsts = asyncio.run(run())
    return {
        "build": build,
        "rss_core": rss_core,
        "rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "full_bytes": full_trace_bytes(model, steps),
        "window": tr.window_length,
        "kept": tr.nbytes(),
        "jump_median": statistics.median(times),
        "jump_max": max(times),
        "first_median": statistics.median(firsts),
        "first_max": max(firsts),
        "jumps": len(times),
        "blas_threads": blas,
        "load": _load(),
    }


APP_CHILDREN = {"latency": child_latency, "enter": child_enter, "memory": child_memory}


def _run_app_child(kind: str, **params) -> dict:
    cmd = [sys.executable, __file__, "--child", kind, "--params", json.dumps(params)]
    env = _child_env()
    if params.get("compiled") is False:  # not even started in the background
        env["LSTM_TUI_COMPILED"] = "0"
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child {kind!r} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def app_rows(quick: bool, jump_only: bool = False) -> list[tuple[str, ...]]:
    """The figures measured through the app (each in a fresh child process)."""
    import importlib.util

    if importlib.util.find_spec("lstm_tui.app") is None or importlib.util.find_spec("textual") is None:
        return [("app figures: skipped, Textual is not installed in this Python", "", "", "", "")]
    keys = 30 if quick else 100
    rows = []
    if not jump_only:
        for H, L, V, cols, rows_ in ((1024, 2, 10_000, 160, 50), (64, 1, 100, 80, 24)):
            r = _run_app_child("latency", hidden=H, layers=L, vocab=V, cols=cols, rows=rows_, steps=400, keys=keys)
            what = f"step latency H={H}, {L} layer{'s' if L > 1 else ''}, V={V:,}, {cols}x{rows_}"
            rows.append((f"{what}: median", _fmt_s(r["median"]), f"≤ {TARGET_STEP[0] * 1000:.0f} ms",
                         f"{r['median'] / TARGET_STEP[0]:.2f} of target", r["load"]))
            rows.append((f"  p95 of {keys} keys (worst {_fmt_s(r['max'])})", _fmt_s(r["p95"]),
                         f"≤ {TARGET_STEP[1] * 1000:.0f} ms", f"{r['p95'] / TARGET_STEP[1]:.2f} of target", ""))
        r = _run_app_child("enter", hidden=1024, layers=2, vocab=10_000, steps=100_000, repeat=3 if quick else 5)
        rows.append((f"step 1 after Enter, T=100,000, H=1024 (median of {r['repeat']})", _fmt_s(r["median"]),
                     f"≤ {TARGET_ENTER * 1000:.0f} ms", f"{r['median'] / TARGET_ENTER:.2f} of target", r["load"]))
        rows.append(("  a step while it traces on (median of 20 keys)" if r["still_tracing"] else
                     "  a step after it (median of 20 keys)", _fmt_s(r["step_median"]), "", ""))
    T = 100_000 if quick else 1_000_000
    r = _run_app_child("recompute", steps=100_000 if quick else 200_000, hidden=128, windows=20 if quick else 60)
    for way in ("numpy, BLAS 2 threads", "numpy, BLAS 1 thread", "compiled, one core"):
        if way in r:
            rows.append((f"window recompute ({r['window']} steps, H=128), {way}: median (worst)",
                         f"{_fmt_s(r[way][0])} ({_fmt_s(r[way][1])})", "", "", r["load"]))
    loops = [False] + ([True] if importlib.util.find_spec("numba") is not None else [])
    for fast in loops:
        r = _run_app_child("memory", steps=T, hidden=128, jumps=20, compiled=fast)
        how = "compiled loop" if fast else "NumPy loop"
        blas = f"BLAS {r['blas_threads']} thread(s) during recomputes" if r["blas_threads"] else "BLAS threads not limited (no threadpoolctl)"
        rows.append((f"peak RSS, T={T:,}, H=128, app included ({how})", f"{r['rss'] / 2**20:,.0f} MB",
                     f"≤ {TARGET_RSS / 2**20:.0f} MB", f"{r['rss'] / r['full_bytes']:.2f} of a full trace", r["load"]))
        if not fast:
            rows.append((f"  peer: a full trace of T={T:,}", f"{r['full_bytes'] / 2**20:,.0f} MB", "", "1.00"))
        rows.append((f"  peak RSS after the forward pass (core only; {r['build']:.1f} s)", f"{r['rss_core'] / 2**20:,.0f} MB",
                     "", ""))
        rows.append((f"  kept: checkpoints every {r['window']} steps, summaries, cache", f"{r['kept'] / 2**20:,.0f} MB", "", ""))
        rows.append((f"jump (Home, End, go to step) to its last frame (text coloured), {how}, {blas}: median of {r['jumps']}",
                     _fmt_s(r["jump_median"]), f"≤ {TARGET_JUMP * 1000:.0f} ms", f"{r['jump_median'] / TARGET_JUMP:.2f} of target",
                     r["load"]))
        rows.append(("  worst jump", _fmt_s(r["jump_max"]), f"≤ {TARGET_JUMP * 1000:.0f} ms",
                     f"{r['jump_max'] / TARGET_JUMP:.2f} of target"))
        rows.append(("  to its first frame (the step on screen; the history's text then coloured, above)",
                     f"{_fmt_s(r['first_median'])} (worst {_fmt_s(r['first_max'])})", f"≤ {TARGET_JUMP * 1000:.0f} ms",
                     f"{r['first_max'] / TARGET_JUMP:.2f} of target (worst)"))
    return rows


EXPORT_TEXT = "Beautiful is better than ugly. Explicit is better than implicit. Simple is better than complex. "


def child_export(model: str, chars: int, compiled: bool) -> dict:
    """``lstm-tui export`` of ``chars`` characters in a child process: its peak RSS (this
    process's only child, so RUSAGE_CHILDREN is that child's), seconds and file size."""
    import resource
    import tempfile

    with tempfile.TemporaryDirectory(prefix="lstm-tui-bench.") as folder:
        text = Path(folder) / "text.txt"
        text.write_text((EXPORT_TEXT * (chars // len(EXPORT_TEXT) + 1))[:chars], encoding="utf-8")
        out = Path(folder) / "trace.npz"
        spec = ["--hidden", model.split(":")[1]] if model.startswith("random:") else ["--model", model]
        cmd = [sys.executable, "-m", "lstm_tui", "export", *spec, "--text-file", str(text), "-o", str(out)]
        env = _child_env()
        env["LSTM_TUI_COMPILED"] = "auto" if compiled else "0"
        t0 = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        seconds = time.perf_counter() - t0
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
        return {
            "rss": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,  # KiB on Linux
            "seconds": seconds,
            "bytes": out.stat().st_size,
            "said": done.stdout.strip(),
            "load": _load(),
        }


APP_CHILDREN["export"] = child_export


def child_recompute(steps: int, hidden: int, windows: int) -> dict:
    """A checkpointed window's recompute (the core of a jump) at H = ``hidden``: NumPy's loop
    with its BLAS on 2 threads and held to 1 (what checkpoint does with threadpoolctl), and the
    compiled loop's one-core kernel; the same random windows, the three alternating."""
    import contextlib
    import statistics

    import numpy as np

    from lstm_tui.core import checkpoint, compiled, random_model

    limiter, info = _limit_blas(THREADS)
    model = random_model(hidden=hidden, seed=0, dtype="float32")
    text = "".join(np.random.default_rng(0).choice(list("abcdefghijklmnopqrstuvwxyz .,;()"), steps).tolist())
    with compiled.using(False):
        plain = checkpoint.checkpointed(model, text)
    ways = {"numpy, BLAS 2 threads": plain._store, "numpy, BLAS 1 thread": plain._store}
    if info and compiled.warm_up(wait=True):
        with compiled.using(True):
            ways["compiled, one core"] = checkpoint.checkpointed(model, text)._store
    limit = checkpoint.one_blas_thread
    times: dict[str, list[float]] = {k: [] for k in ways}
    rng = np.random.default_rng(1)
    for w in rng.integers(0, len(plain._store.path), windows).tolist():
        for way, store in ways.items():
            checkpoint.one_blas_thread = (lambda: contextlib.nullcontext()) if "2 threads" in way else limit
            t0 = time.perf_counter()
            store.compute(w)
            times[way].append(time.perf_counter() - t0)
    checkpoint.one_blas_thread = limit
    del limiter
    return {
        "window": plain.window_length,
        "load": _load(),
        "threadpoolctl": bool(info),
        **{way: [statistics.median(t), max(t)] for way, t in times.items()},
    }


APP_CHILDREN["recompute"] = child_recompute


def export_rows(quick: bool) -> list[tuple[str, ...]]:
    """Peak RSS of ``lstm-tui export`` of a million characters (a demo model, and H = 128)."""
    import importlib.util

    chars = 100_000 if quick else 1_000_000
    rows = []
    loops = [False] + ([True] if importlib.util.find_spec("numba") is not None else [])
    for model in ("charlm", "random:128"):
        for fast in loops:
            r = _run_app_child("export", model=model, chars=chars, compiled=fast)
            name = f"--hidden {model.split(':')[1]}" if model.startswith("random:") else f"--model {model}"
            how = "compiled loop once ready" if fast else "NumPy loop"
            rows.append((f"lstm-tui export {name}, {chars:,} characters ({how}): peak RSS",
                         f"{r['rss'] / 2**20:,.0f} MB", f"≤ {TARGET_RSS / 2**20:.0f} MB",
                         f"{r['rss'] / TARGET_RSS:.2f} of target", r["load"]))
            rows.append((f"  {r['seconds']:.1f} s, a file of {r['bytes'] / 2**30:.2f} GB", "", "", ""))
    return rows


# ---------------------------------------------------------------------------
# The table.


def _fmt_s(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms" if seconds < 10 else f"{seconds:,.1f} s"


def machine_lines(np_info: dict, torch_info: dict) -> list[str]:
    cores = os.cpu_count()
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        usable = cores
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = (
        f"{np_info['blas']} {np_info['blas_version']}, kernel {np_info['blas_kernel']}, "
        f"limited to {np_info['blas_threads']} threads"
        if "blas" in np_info
        else "unknown (pip install threadpoolctl to name it and limit its threads)"
    )
    env = ", ".join(f"{k}={os.environ[k]}" for k in OPENBLAS_VARS if k in os.environ) or "none set"
    torch_v = torch_info.get("torch") or "not installed: no peer figure"
    if torch_info.get("torch"):
        torch_v += f", {THREADS} threads, oneDNN {'on' if torch_info['mkldnn'] else 'off'}"
    return [
        f"machine   {cpu}; {cores} cores ({usable} usable); Python {platform.python_version()}",
        f"NumPy     {np_info['numpy']}; BLAS {blas}",
        f"OpenBLAS  environment: {env}",
        f"PyTorch   {torch_v}",
        f"CPU       {_yardstick()} (a yardstick for comparing machines: the app's figures are Python)",
    ]


def _yardstick() -> str:
    """Pure-Python speed in one figure: ``sum(range(10000))``, best of 20 (about 0.1 ms on a quick core)."""
    import timeit

    best = min(timeit.repeat("sum(range(10000))", number=50, repeat=20)) / 50
    return f"sum(range(10000)) takes {best * 1e6:.0f} µs"


def print_table(rows: list[tuple[str, ...]], head=("figure", "measured", "target", "ratio", "load")) -> None:
    rows = [tuple(r) + ("",) * (len(head) - len(r)) for r in rows]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "  ".join("{:<%d}" % w for w in widths)
    print(line.format(*head))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r).rstrip())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="T = 2,000 and 3 repeats: a smoke run")
    parser.add_argument("-T", type=int, default=None, help="sequence length for the throughput figure")
    parser.add_argument("--repeat", type=int, default=None, help="timed repeats (best is kept)")
    parser.add_argument("--rounds", type=int, default=None, help="alternating rounds of the children (best is kept)")
    parser.add_argument("--hidden", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--trace-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--scaling", action="store_true", help="also time the trace per step for H = 64 to 1024, T = 1,000 to 100,000"
    )
    parser.add_argument("--no-app", action="store_true", help="skip the figures measured through the app")
    parser.add_argument(
        "--only", action="append", choices=("trace", "import", "export", "app", "jump"),
        help="only these figures (repeatable): trace throughput, import and first frame, export's memory, "
        "the app's (all of them), jump (memory and jumps at a million steps only)",
    )
    parser.add_argument("--child", choices=sorted({*CHILDREN, *APP_CHILDREN}), help=argparse.SUPPRESS)
    parser.add_argument("--params", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.T = args.T or (2_000 if args.quick else 10_000)
    args.repeat = args.repeat or (3 if args.quick else 7)
    args.rounds = args.rounds or (1 if args.quick else 3)
    H, E = args.hidden, 64

    if args.child in APP_CHILDREN:
        print(json.dumps(APP_CHILDREN[args.child](**json.loads(args.params))))
        return 0
    if args.child:
        print(json.dumps(CHILDREN[args.child](args.T, H, E, args.repeat, args.trace_only)))
        return 0

    only = set(args.only or ("trace", "import", "export", "app"))
    rows: list[tuple[str, ...]] = []
    print(f"lstm-tui benchmarks{' (quick)' if args.quick else ''}: T = {args.T:,}, H = {H}, E = {E}, float32, "
          f"best of {args.repeat} × {args.rounds} rounds")
    load_before = _load()
    import numpy

    np_info, torch_info = {"numpy": numpy.__version__, **_limit_blas(THREADS)[1]}, {}
    if "trace" in only:
        np_info, torch_info, trace_rows = throughput_rows(args)
        rows += trace_rows
    for line in machine_lines(np_info, torch_info):
        print(line)
    if "import" in only:
        n_import = 3 if args.quick else 10
        rows.append((f"core import (best of {n_import})", _fmt_s(import_time(n_import)), f"< {TARGET_IMPORT} s", "", _load()))
        rows.append(("  import lstm_tui.core.model, numba installed", _fmt_s(import_time(n_import, "lstm_tui.core.model")),
                     "", "", _load()))
        rows.append(("  the same with numba hidden (as if not installed)",
                     _fmt_s(import_time(n_import, "lstm_tui.core.model", hide="numba")), "", "", _load()))
        n_frame = 3 if args.quick else 5
        ff = first_frame(n_frame)
        if ff is not None:
            label = f"time to first frame: lstm-tui (best of {n_frame})"
            shown = _fmt_s(ff) if ff < float("inf") else "no frame with step 1 in 15 s"
            rows.append((label, shown, f"≤ {TARGET_FIRST_FRAME} s", "", _load()))
    if "export" in only:
        rows += export_rows(args.quick)
    if "app" in only and not args.no_app:
        rows += app_rows(args.quick)
    elif "jump" in only:
        rows += app_rows(args.quick, jump_only=True)
    print(f"load      1-minute load average {load_before} before, {_load()} after (other work slows the figures; "
          "the load column is at each figure)")
    print()
    print_table(rows)
    if torch_info.get("max_h_diff") is not None:
        print(f"\n(check: h from Model.trace and from nn.LSTM differ by at most {torch_info['max_h_diff']:.1e}"
              + (f"; the compiled and NumPy loops by {np_info['max_paths_diff']:.1e})" if "max_paths_diff" in np_info else ")"))
    if args.scaling:
        print()
        scaling(args, with_torch=bool(torch_info.get("forward")))
    return 0


def _loads(*infos: dict) -> str:
    """The range of the 1-minute load over the children behind a figure."""
    values = [float(v) for info in infos for v in info.get("loads", []) if v not in (None, "?")]
    if not values:
        return "?"
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if lo == hi else f"{lo:.1f}–{hi:.1f}"


def throughput_rows(args) -> tuple[dict, dict, list[tuple[str, ...]]]:
    """The trace against PyTorch's forward: NumPy's loop and the compiled loop, with the
    OpenBLAS variables as set and (if any is set) with both unset; children alternate."""
    unset = tuple(k for k in OPENBLAS_VARS if k in os.environ)
    np_info = torch_info = np_plain = None
    for _ in range(args.rounds):
        np_info = _keep_best(np_info, _run_child("numpy", args))
        torch_info = _keep_best(torch_info, _run_child("torch", args))
        if unset:
            np_plain = _keep_best(np_plain, _run_child("numpy", args, unset=unset))
    peer = torch_info.get("forward")
    ratio = (lambda s: f"{s / peer:.2f}") if peer else (lambda s: "")
    target = f"≤ {TARGET_RATIO} × PyTorch" if peer else f"≤ {TARGET_RATIO} × PyTorch (not installed here)"
    env = "as set" if unset else "none set"
    rows = []
    if "trace_compiled" in np_info:
        threads = f"numba {np_info['numba']}, {np_info['numba_layer']}, {np_info['numba_threads']} threads"
        rows.append((f"trace: Model.trace, compiled loop ({threads}), OPENBLAS_* {env}",
                     _fmt_s(np_info["trace_compiled"]), target, ratio(np_info["trace_compiled"]), _loads(np_info)))
        if np_plain:
            rows.append((f"  the same, {' '.join(unset)} unset", _fmt_s(np_plain["trace_compiled"]), target,
                         ratio(np_plain["trace_compiled"]), _loads(np_plain)))
        rows.append((f"  compiled loop ready in (numba's cache, or a compile)", _fmt_s(np_info["compile_seconds"]),
                     "", "", ""))
    else:
        rows.append(("trace: compiled loop", np_info.get("compiled_status", "?"), target, "", ""))
    rows.append((f"trace: Model.trace, NumPy loop, OPENBLAS_* {env}: kernel {np_info.get('blas_kernel', '?')}",
                 _fmt_s(np_info["trace"]), "", ratio(np_info["trace"]), _loads(np_info)))
    if np_plain:
        rows.append((f"  the same, {' '.join(unset)} unset: kernel {np_plain.get('blas_kernel', '?')}",
                     _fmt_s(np_plain["trace"]), "", ratio(np_plain["trace"]), _loads(np_plain)))
    if peer:
        rows.append(("  peer: PyTorch nn.LSTM forward (h only)", _fmt_s(peer), "", "1.00", _loads(torch_info)))
        one = torch_info["forward_1"]
        rows.append(("  PyTorch with 1 thread, for scale", _fmt_s(one), "", ratio(one), ""))
    else:
        rows.append(("  peer: PyTorch is not installed in this Python: no ratio (pip install torch)", "", "", "", ""))
    rows.append(("  NumPy loop: of which cells.run", _fmt_s(np_info["run"]), "", ratio(np_info["run"]), ""))
    rows.append(("  W_hh·h alone, T calls (NumPy floor)", _fmt_s(np_info["gemv"]), "", ratio(np_info["gemv"]), ""))
    if np_plain:
        rows.append(("  W_hh·h alone, OpenBLAS variables unset", _fmt_s(np_plain["gemv"]), "", ratio(np_plain["gemv"]), ""))
    return np_info, torch_info, rows


def scaling(args, with_torch: bool) -> None:
    """Model.trace (and PyTorch's forward) per step as H and T grow: the trace is linear in T;
    per step it costs W_hh·h (grows as H²) plus a fixed overhead of NumPy calls."""
    rows = []
    for T, H in ((10_000, 64), (10_000, 128), (10_000, 256), (2_000, 512), (1_000, 1024), (1_000, 256), (100_000, 256)):
        ours = peer = float("inf")
        for _ in range(args.rounds):  # alternating, as above
            ours = min(ours, _run_child("numpy", args, T=T, H=H, trace_only=True)["trace"])
            if with_torch:
                peer = min(peer, _run_child("torch", args, T=T, H=H, trace_only=True)["forward"])
        per_step = f"{ours / T * 1e6:,.1f} µs"
        if with_torch:
            rows.append((f"T = {T:,}, H = {H}", per_step, f"{peer / T * 1e6:,.1f} µs", f"{ours / peer:.2f}"))
        else:
            rows.append((f"T = {T:,}, H = {H}", per_step, "", ""))
    print_table(rows, head=("Model.trace per step", "NumPy", "PyTorch", "ratio"))


if __name__ == "__main__":
    sys.exit(main())
