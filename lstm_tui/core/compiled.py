"""A compiled step loop for layers with PyTorch's defaults (numba), and when it runs.

The NumPy loop in :func:`cells.run` pays a dozen NumPy calls per step and
libm's scalar tanh; this module runs the same equations as one compiled loop
over the steps, for LSTM, GRU and plain RNN layers. Per step, the units are
shared among the cores (``prange``); an LSTM's unit j computes its four rows
of ``W_hh hᵗ⁻¹`` (gates i, f, g, o), then::

    a_q = (W_ih x)_q + b_ih_q + b_hh_q + (W_hh h)_q     q = i, f, g, o
    i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
    cᵗ = f cᵗ⁻¹ + i g;  hᵗ = o tanh(cᵗ)

σ(a) = ½·tanh(½a) + ½, and tanh is a float32 rational function (odd degree 13
over even degree 6, the minimax form Eigen and XNNPACK use) on a clamped input,
written without branches so that LLVM vectorises it. Its largest error against
float64 tanh is about 3e-7; the loop's outputs stay within 1e-6 (relative, for large ones) of the NumPy
loop's (tests/test_compiled.py). The sums are reordered (fastmath), so the two
paths agree to a tolerance, never to the bit. The GRU and RNN kernels follow
their equations in ``cells`` the same way.

Each kernel is compiled twice, for all cores and for one: a step's units on
two cores wait for each other at every step, which on a busy machine costs
more than the second core gives (measured: 10× slower at a load of 7 on 2
cores), and a small layer gains nothing. A run goes in blocks of
``STEPS_PER_CALL`` steps, each by the kernel that has lately been faster for
that cell and width. The two may differ in the last bit (the all-core one
loaded from numba's cache does), so a caller that recomputes a block and
needs the same bits pins one with :func:`using`.

It applies to a layer with PyTorch's defaults only: float32, no projection,
the default activations, no clip, the GRU's reset after the product, forward.
Everything else runs in
NumPy, and so does everything when numba is not installed (the ``speed``
extra, installed as :data:`HINT` says). Importing this module never imports numba.

When it runs, set by the environment variable ``LSTM_TUI_COMPILED``:

- unset or ``auto``: once :func:`warm_up` has been called (the app does so
  after its first frame, the CLI for an input NumPy would take over half a
  second on) the loop is compiled or loaded
  from numba's cache in a background thread; traces use NumPy until it is
  ready, then the compiled loop. Nothing ever waits for a compile.
- ``1``: the first trace that can use it waits for it (scripts, benchmarks).
- ``0``: never (NumPy only, for comparison).
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import threading
import time
import types

import numpy as np

from .errors import install_hint

ENV = "LSTM_TUI_COMPILED"
HINT = install_hint("speed")

# The rational tanh: tanh(x) ≈ x·P(x²)/Q(x²) on x clamped to ±CLAMP, where
# the float32 result has reached ±1. Coefficients of the minimax fit that
# Eigen's ptanh_float uses (degree 13 / 6).
CLAMP = np.float32(7.90531110763549805)
P1, P3, P5, P7 = (np.float32(v) for v in (4.89352455891786e-03, 6.37261928875436e-04, 1.48572235717979e-05, 5.12229709037114e-08))
P9, P11, P13 = (np.float32(v) for v in (-8.60467152213735e-11, 2.00018790482477e-13, -2.76076847742355e-16))
Q0, Q2, Q4, Q6 = (np.float32(v) for v in (4.89352518554385e-03, 2.26843463243900e-03, 1.18534705686654e-04, 1.19825839466702e-06))
HALF = np.float32(0.5)
ZERO = np.float32(0.0)

#: Every fast-math flag but "no NaNs" and "no infinities": sums may be
#: reordered and vectorised, while an inf or NaN in a user's weights still
#: comes out as it does from NumPy.
FASTMATH = {"nsz", "arcp", "contract", "afn", "reassoc"}

prange = range  # numba.prange once numba is imported (see _build)


def tanh32(a):
    """tanh(a) for a float32 scalar: the rational form on a clamped input; NaN stays NaN."""
    x = min(max(a, -CLAMP), CLAMP)  # min/max, not if: a branch would stop vectorisation
    x2 = x * x
    p = ((((((P13 * x2 + P11) * x2 + P9) * x2 + P7) * x2 + P5) * x2 + P3) * x2 + P1) * x
    q = ((Q6 * x2 + Q4) * x2 + Q2) * x2 + Q0
    return p / q if a == a else a


def sigmoid32(a):
    """σ(a) = ½·tanh(½a) + ½ for a float32 scalar."""
    return HALF * tanh32(HALF * a) + HALF


def input_product(x, W_ihT, xW):
    """xW (T, G*H) = x (T, E) W_ihT (E, G*H): every step's input product, the steps
    shared among the cores. (NumPy's BLAS would do as well, but its threads spin
    for a while after each call and take a core from the step loop that follows.)"""
    T = x.shape[0]
    E = x.shape[1]
    GH = W_ihT.shape[1]
    for t in prange(T):
        row = xW[t]  # (G*H,)
        for r in range(GH):
            row[r] = ZERO
        for e in range(E):
            x_e = x[t, e]
            for r in range(GH):
                row[r] += x_e * W_ihT[e, r]


def lstm_steps(xW, b, W4, h0, c0, hW, i, f, g, o, c, h):
    """The LSTM recurrence over T steps, written into the output arrays.

    xW (T, 4H) W_ih xᵗ; b (4H,) b_ih + b_hh; W4 (H, 4, H) W_hh with unit j's
    four gate rows together, W4[j, q] = W_hh[q·H + j]; h0, c0 (H,) the state
    before step 0. Writes hW (T, 4H) W_hh hᵗ⁻¹ and i, f, g, o, c, h (T, H);
    every array float32 and C-contiguous, allocated by the caller.
    """
    T = h.shape[0]
    H = h.shape[1]
    for t in range(T):
        h_prev = h0 if t == 0 else h[t - 1]  # (H,)
        c_prev = c0 if t == 0 else c[t - 1]  # (H,)
        for j in prange(H):
            s_i = ZERO
            s_f = ZERO
            s_g = ZERO
            s_o = ZERO
            for k in range(H):
                hk = h_prev[k]
                s_i += W4[j, 0, k] * hk
                s_f += W4[j, 1, k] * hk
                s_g += W4[j, 2, k] * hk
                s_o += W4[j, 3, k] * hk
            hW[t, j] = s_i
            hW[t, H + j] = s_f
            hW[t, 2 * H + j] = s_g
            hW[t, 3 * H + j] = s_o
            i_j = sigmoid32(xW[t, j] + b[j] + s_i)
            f_j = sigmoid32(xW[t, H + j] + b[H + j] + s_f)
            g_j = tanh32(xW[t, 2 * H + j] + b[2 * H + j] + s_g)
            o_j = sigmoid32(xW[t, 3 * H + j] + b[3 * H + j] + s_o)
            c_j = f_j * c_prev[j] + i_j * g_j
            i[t, j] = i_j
            f[t, j] = f_j
            g[t, j] = g_j
            o[t, j] = o_j
            c[t, j] = c_j
            h[t, j] = o_j * tanh32(c_j)


def gru_steps(xW, b_ih, b_hh, W3, h0, hW, r, z, n, h):
    """The GRU recurrence over T steps (gate order r, z, n), written into the output arrays::

        r = σ(W_ir x + b_ir + W_hr h + b_hr);  z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r (W_hn h + b_hn));  hᵗ = (1 - z) n + z hᵗ⁻¹

    xW (T, 3H) W_ih xᵗ; b_ih, b_hh (3H,); W3 (H, 3, H), W3[j, q] = W_hh[q·H + j];
    h0 (H,). Writes hW (T, 3H) and r, z, n, h (T, H).
    """
    T = h.shape[0]
    H = h.shape[1]
    for t in range(T):
        h_prev = h0 if t == 0 else h[t - 1]  # (H,)
        for j in prange(H):
            s_r = ZERO
            s_z = ZERO
            s_n = ZERO
            for k in range(H):
                hk = h_prev[k]
                s_r += W3[j, 0, k] * hk
                s_z += W3[j, 1, k] * hk
                s_n += W3[j, 2, k] * hk
            hW[t, j] = s_r
            hW[t, H + j] = s_z
            hW[t, 2 * H + j] = s_n
            r_j = sigmoid32(xW[t, j] + b_ih[j] + s_r + b_hh[j])
            z_j = sigmoid32(xW[t, H + j] + b_ih[H + j] + s_z + b_hh[H + j])
            n_j = tanh32(xW[t, 2 * H + j] + b_ih[2 * H + j] + r_j * (s_n + b_hh[2 * H + j]))
            r[t, j] = r_j
            z[t, j] = z_j
            n[t, j] = n_j
            h[t, j] = n_j + z_j * (h_prev[j] - n_j)


def rnn_steps(xW, b, W, h0, hW, h, relu):
    """The plain RNN over T steps: hᵗ = tanh(W_ih x + b_ih + W_hh hᵗ⁻¹ + b_hh), or
    relu for ``relu``. xW (T, H); b (H,) b_ih + b_hh; W (H, H) W_hh; h0 (H,).
    Writes hW (T, H) and h (T, H)."""
    T = h.shape[0]
    H = h.shape[1]
    for t in range(T):
        h_prev = h0 if t == 0 else h[t - 1]  # (H,)
        for j in prange(H):
            s = ZERO
            for k in range(H):
                s += W[j, k] * h_prev[k]
            hW[t, j] = s
            a = xW[t, j] + b[j] + s
            if relu:
                h[t, j] = a if (a > ZERO or a != a) else ZERO  # NaN stays NaN, as np.maximum has it
            else:
                h[t, j] = tanh32(a)


def _named(func, name: str):
    """The same Python function under another name. Each kernel is compiled twice, with
    its loop shared among the cores (``parallel=True``) and on one core (for a small layer,
    or a busy machine, where waiting at every step for a second core costs more than it
    gives); numba's cache files are named after the function, so the two compiled
    versions must have two names."""
    f = types.FunctionType(func.__code__, func.__globals__, name, func.__defaults__, func.__closure__)
    f.__qualname__ = name
    f.__doc__ = func.__doc__
    return f


#: The steps kernel of each cell kind (rnn_tanh and rnn_relu share one).
STEPS = {"lstm": lstm_steps, "gru": gru_steps, "rnn": rnn_steps}


# ---------------------------------------------------------------------------
# Compiling, in the background


class _State:
    """The compiled kernel once it is ready, and how getting it went."""

    def __init__(self) -> None:
        self.kernel = None  # set once every kernel is compiled: the compiled lstm_steps, all cores
        self.kernels: dict[tuple[str, bool], object] = {}  # (cell kind, parallel) -> compiled steps kernel
        self.cost: dict[tuple[str, int, bool], float] = {}  # (cell kind, H, parallel) -> seconds per step, lately
        self.calls = 0
        self.error: str | None = None  # why there is none (numba missing, a compile error)
        self.cached: bool | None = None  # whether numba could keep it on disk
        self.thread: threading.Thread | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.serial: threading.Lock | None = None  # set if the threading layer is not thread-safe


_state = _State()
_local = threading.local()  # .use: None (decide), False, True, "serial" or "parallel" (a caller's pin, see using())


def mode() -> str:
    """``auto``, ``wait`` or ``off``, from ``LSTM_TUI_COMPILED`` (unset: auto)."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("0", "off", "no", "false", "numpy"):
        return "off"
    if value in ("1", "on", "yes", "true", "wait"):
        return "wait"
    return "auto"


def installed() -> bool:
    """Whether numba can be imported (without importing it)."""
    try:
        return importlib.util.find_spec("numba") is not None
    except (ImportError, ValueError):  # a module set to None in sys.modules, a broken install
        return False


def _jit(numba, func, cache: bool, **options):
    # nogil: a window recomputed or a trace run in a worker thread leaves the main thread free to draw.
    return numba.njit(cache=cache, nogil=True, fastmath=set(FASTMATH), error_model="numpy", **options)(func)


def _build() -> None:
    """Compile (or load from numba's cache) the kernels; runs in the warm-up thread."""
    try:
        import numba
    except ImportError:
        _state.error = f"numba is not installed: {HINT}"
        return
    global prange, tanh32, sigmoid32
    try:
        prange = numba.prange
        # The helpers become compiled functions inlined into the kernels that call them.
        # Caching needs a writable __pycache__ beside this file or NUMBA_CACHE_DIR;
        # without one the kernels are compiled again in every process.

        def build(cache: bool):
            global tanh32, sigmoid32
            tanh32 = _jit(numba, tanh32, cache, inline="always")
            sigmoid32 = _jit(numba, sigmoid32, cache, inline="always")
            kernels = {}
            for kind, func in STEPS.items():
                kernels[kind, True] = _jit(numba, _named(func, f"{func.__name__}_parallel"), cache, parallel=True)
                kernels[kind, False] = _jit(numba, _named(func, f"{func.__name__}_serial"), cache)
            kernels["product", True] = _jit(numba, _named(input_product, "input_product_parallel"), cache, parallel=True)
            kernels["product", False] = _jit(numba, _named(input_product, "input_product_serial"), cache)
            return kernels

        try:
            kernels = build(True)
            _state.cached = True
        except RuntimeError:  # "cannot cache function ...: no locator available"
            kernels = build(False)
            _state.cached = False
        # Compiled (or loaded) now for the one signature they are called with: float32, C order.
        v = np.zeros(1, dtype=np.float32)  # (H,) with H = 1
        m = np.zeros((1, 1), dtype=np.float32)  # (T, H) with T = 1
        for parallel in (True, False):
            kernels["lstm", parallel](np.zeros((1, 4), np.float32), np.zeros(4, np.float32),
                                      np.zeros((1, 4, 1), np.float32), v, v, np.zeros((1, 4), np.float32), *([m] * 6))
            kernels["gru", parallel](np.zeros((1, 3), np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32),
                                     np.zeros((1, 3, 1), np.float32), v, np.zeros((1, 3), np.float32), *([m] * 4))
            kernels["rnn", parallel](m, v, m, v, m, m, False)
            kernels["product", parallel](m, np.zeros((1, 4), np.float32), np.zeros((1, 4), np.float32))
        _state.kernels = kernels
        kernel = kernels["lstm", True]
        if numba.threading_layer() not in ("omp", "tbb"):  # workqueue: one parallel loop at a time
            _state.serial = threading.Lock()
        _state.kernel = kernel
    except Exception as exc:  # a numba that cannot compile here: NumPy it is
        _state.error = f"numba could not compile the step loop ({type(exc).__name__}: {exc})"


def _warm() -> None:
    try:
        _build()
    finally:
        _state.done.set()


def warm_up(wait: bool = False) -> bool:
    """Start getting the compiled loop ready in a background thread (once);
    with ``wait``, block until it is. Returns whether it is ready.

    Does nothing when ``LSTM_TUI_COMPILED=0`` or numba is not installed.
    """
    if mode() == "off":
        return False
    if not installed():
        _state.error = f"numba is not installed: {HINT}"
        return False
    with _state.lock:
        if _state.thread is None:
            _state.thread = threading.Thread(target=_warm, name="lstm-tui-compile", daemon=True)
            _state.thread.start()
            # An exit in the middle of a compile waits for it: LLVM torn down under a running compile can crash.
            atexit.register(_state.done.wait)
    if wait:
        _state.done.wait()
    return ready()


def ready() -> bool:
    """Whether the compiled loop can run now."""
    return _state.kernel is not None and mode() != "off"


def status() -> str:
    """One line on the compiled loop, for the help screen and ``--version``-like output."""
    if mode() == "off":
        return f"compiled step loop: off ({ENV}=0)"
    if _state.kernel is not None:
        return "compiled step loop: numba, ready" + ("" if _state.cached else " (not cached: no writable cache folder)")
    if _state.error:
        return f"compiled step loop: none, {_state.error}"
    if _state.thread is not None:
        return "compiled step loop: compiling in the background (NumPy until then)"
    if not installed():
        return f"compiled step loop: none, numba is not installed: {HINT}"
    return "compiled step loop: not started (NumPy)"


def applies(layer) -> bool:
    """Whether ``layer`` is one the compiled loop computes: PyTorch's defaults (an LSTM
    without projection, a GRU with its reset after the product, default activations,
    no clip), forward, float32."""
    from .cells import is_plain

    if layer.reverse or not is_plain(layer):
        return False
    f32 = np.dtype(np.float32)
    return all(a.dtype == f32 for a in (layer.W_ih, layer.W_hh, layer.b_ih, layer.b_hh))


def will_run() -> bool:
    """Whether a trace started now, on a layer the loop applies to, runs compiled
    (for a caller that must recompute later by the same path: see :func:`using`)."""
    pin = getattr(_local, "use", None)
    if pin is not None:
        return bool(pin)
    if mode() == "wait":
        warm_up(wait=True)
    return ready()


@contextlib.contextmanager
def using(path):
    """Within the block, this thread's traces run in NumPy (``path`` False) or
    compiled (True: each block of steps by whichever kernel has lately been the
    faster; ``"serial"`` or ``"parallel"``: always that kernel), waiting for the
    compiled loop if need be. The two kernels may differ in the last bit, so a
    window recomputed later pins the path its first computation took and has
    the same numbers to the bit."""
    before = getattr(_local, "use", None)
    _local.use = (path if path in KERNELS else True) if path and warm_up(wait=True) else False
    try:
        yield
    finally:
        _local.use = before


KERNELS = ("serial", "parallel")


def choose(cell: str, H: int) -> str:
    """The kernel the next block of steps of a ``cell`` layer H wide would run on: ``"serial"`` or ``"parallel"``."""
    return "parallel" if _choose("rnn" if cell.startswith("rnn") else cell, H)[0] else "serial"


def layout(layer) -> tuple:
    """What :func:`run` reads of a layer besides the steps: W_ih transposed (E, G*H), W_hh as
    (H, G, H) (unit j's G rows together), and b_ih + b_hh (G*H,), all C-contiguous
    (``cells.Laid`` keeps them, so that a run chunk after chunk lays them out once)."""
    from .cells import GATES

    G, H = GATES[layer.cell], layer.hidden_size
    W_ihT = np.ascontiguousarray(layer.W_ih.T)  # (E, G*H)
    W = np.ascontiguousarray(layer.W_hh.reshape(G, H, H).transpose(1, 0, 2))  # (H, G, H): unit j's rows together
    return W_ihT, W, layer.b_ih + layer.b_hh


def run(layer, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, out: dict | None = None, laid=None) -> dict | None:
    """:func:`cells.run` for a layer the compiled loop applies to, if it is ready;
    None (so that the caller runs NumPy) otherwise.

    x (T, E), h0 and c0 (H,; c0 for an LSTM only). ``out``, if given, holds
    arrays to write into: ``xW`` and ``hW`` (T, G*H) and each quantity of
    ``QUANTITIES[layer.cell]`` (T, H), float32 and C-contiguous (any that are
    not are allocated here). Returns the dict of the same keys. ``laid``, a
    ``cells.Laid`` of this layer, keeps the layout of :func:`layout` from a call before.
    """
    from .cells import GATES, QUANTITIES

    if not applies(layer) or (layer.cell == "lstm") != (c0 is not None) or not will_run():
        return None
    T, H, G = x.shape[0], layer.hidden_size, GATES[layer.cell]
    f32 = np.float32
    qs = QUANTITIES[layer.cell]
    out = dict(out or {})
    for name, shape in (("xW", (T, G * H)), ("hW", (T, G * H)), *((q, (T, H)) for q in qs)):
        a = out.get(name)
        if a is None or a.shape != shape or a.dtype != f32 or not a.flags.c_contiguous or not a.flags.writeable:
            out[name] = np.empty(shape, dtype=f32)
    x = np.ascontiguousarray(x, dtype=f32)  # (T, E)
    W_ihT, W, b = laid.compiled() if laid is not None and laid.layer is layer else layout(layer)
    h0 = np.ascontiguousarray(h0, dtype=f32)  # (H,)
    kind = "rnn" if G == 1 else layer.cell

    def call(kernel, a: int, z: int, h_prev, c_prev) -> None:
        rows = (out["xW"][a:z], out["hW"][a:z], *(out[q][a:z] for q in qs))
        if kind == "lstm":
            kernel(rows[0], b, W, h_prev, c_prev, *rows[1:])
        elif kind == "gru":
            kernel(rows[0], layer.b_ih, layer.b_hh, W, h_prev, *rows[1:])
        else:
            kernel(rows[0], b, W[:, 0], h_prev, *rows[1:], layer.cell == "rnn_relu")

    pin = getattr(_local, "use", None)
    c_prev = None if c0 is None else np.ascontiguousarray(c0, dtype=f32)  # (H,)
    h_prev = h0
    with _state.serial or contextlib.nullcontext():
        # On all cores when the steps are likely to be (a busy machine makes both slow there).
        _state.kernels["product", pin == "parallel" if pin in KERNELS else _faster(kind, H)](x, W_ihT, out["xW"])
        # A block of steps at a time, each from the state the last one ended in, by
        # the kernel (one core or all) that has lately been the faster for this H.
        a = 0
        while a < T:
            parallel, probe = (pin == "parallel", False) if pin in KERNELS else _choose(kind, H)
            z = min(T, a + (STEPS_PER_PROBE if probe else STEPS_PER_CALL))
            t0 = time.perf_counter()
            call(_state.kernels[kind, parallel], a, z, h_prev, c_prev)
            _learn(kind, H, parallel, (time.perf_counter() - t0) / (z - a))
            h_prev = out["h"][z - 1]
            c_prev = None if c_prev is None else out["c"][z - 1]
            a = z
    return out


STEPS_PER_CALL = 512  # steps per kernel call: the choice of kernel is made again after each block
STEPS_PER_PROBE = 64  # steps of a block that times the kernel not chosen
PROBE_EVERY = 16  # every so many blocks, the kernel that is not chosen is timed again


def _choose(kind: str, H: int) -> tuple[bool, bool]:
    """(whether the next block of steps of width H runs on all cores, whether that block is a
    probe): the kernel that has been faster lately, each tried first on a short block, and the
    other again now and then, on a short block (the load of a shared machine changes which wins)."""
    _state.calls += 1
    cost = _state.cost
    if (kind, H, True) not in cost:
        return True, True
    if (kind, H, False) not in cost:
        return False, True
    best = cost[(kind, H, True)] <= cost[(kind, H, False)]
    return ((not best), True) if _state.calls % PROBE_EVERY == 0 else (best, False)


def _faster(kind: str, H: int) -> bool:
    """Whether the all-core steps kernel has lately been the faster for this cell and H (True untried)."""
    cost = _state.cost
    return cost.get((kind, H, True), 0.0) <= cost.get((kind, H, False), float("inf"))


def _learn(kind: str, H: int, parallel: bool, seconds_per_step: float) -> None:
    old = _state.cost.get((kind, H, parallel))
    _state.cost[(kind, H, parallel)] = seconds_per_step if old is None else 0.5 * old + 0.5 * seconds_per_step
