"""A compiled step loop for the default LSTM layer (numba), and when it runs.

The NumPy loop in :func:`cells.run` pays a dozen NumPy calls per step and
libm's scalar tanh; this module runs the same equations as one compiled loop
over the steps. Per step, the units are shared among the cores (``prange``);
each unit j computes its four rows of ``W_hh hᵗ⁻¹`` (gates i, f, g, o), then::

    a_q = (W_ih x)_q + b_ih_q + b_hh_q + (W_hh h)_q     q = i, f, g, o
    i, f, o = σ(a_i), σ(a_f), σ(a_o);  g = tanh(a_g)
    cᵗ = f cᵗ⁻¹ + i g;  hᵗ = o tanh(cᵗ)

σ(a) = ½·tanh(½a) + ½, and tanh is a float32 rational function (odd degree 13
over even degree 6, the minimax form Eigen and XNNPACK use) on a clamped input,
written without branches so that LLVM vectorises it. Its largest error against
float64 tanh is about 3e-7; the loop's outputs stay within 1e-6 of the NumPy
loop's (tests/test_compiled.py). The sums are reordered (fastmath), so the two
paths agree to a tolerance, never to the bit.

It applies to a layer with PyTorch's defaults only: LSTM, float32, no
projection, the default activations, no clip, forward. Everything else runs in
NumPy, and so does everything when numba is not installed (``pip install
'lstm-tui[speed]'``). Importing this module never imports numba.

When it runs, set by the environment variable ``LSTM_TUI_COMPILED``:

- unset or ``auto``: once :func:`warm_up` has been called (the app does so
  after its first frame, the CLI when it starts) the loop is compiled or loaded
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

ENV = "LSTM_TUI_COMPILED"
HINT = "pip install 'lstm-tui[speed]'"

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


def _named(func, name: str):
    """The same Python function under another name. :func:`lstm_steps` is compiled twice,
    with each step's units shared among the cores (``parallel=True``) and on one core (for
    a small layer, or a busy machine, where waiting at every step for a second core costs
    more than it gives); numba's cache files are named after the function, so the two
    compiled versions must have two names."""
    f = types.FunctionType(func.__code__, func.__globals__, name, func.__defaults__, func.__closure__)
    f.__qualname__ = name
    f.__doc__ = func.__doc__
    return f


# ---------------------------------------------------------------------------
# Compiling, in the background


class _State:
    """The compiled kernel once it is ready, and how getting it went."""

    def __init__(self) -> None:
        self.kernel = None  # the compiled lstm_steps_parallel
        self.serial_kernel = None  # the compiled lstm_steps_serial
        self.product = None  # the compiled input_product
        self.cost: dict[tuple[int, bool], float] = {}  # (H, parallel) -> seconds per step, lately
        self.calls = 0
        self.error: str | None = None  # why there is none (numba missing, a compile error)
        self.cached: bool | None = None  # whether numba could keep it on disk
        self.thread: threading.Thread | None = None
        self.done = threading.Event()
        self.lock = threading.Lock()
        self.serial: threading.Lock | None = None  # set if the threading layer is not thread-safe


_state = _State()
_local = threading.local()  # .use: None (decide), True or False (a caller's pin, see using())


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
    return numba.njit(cache=cache, fastmath=set(FASTMATH), error_model="numpy", **options)(func)


def _build() -> None:
    """Compile (or load from numba's cache) the kernel; runs in the warm-up thread."""
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
            return (
                _jit(numba, _named(lstm_steps, "lstm_steps_parallel"), cache, parallel=True),
                _jit(numba, _named(lstm_steps, "lstm_steps_serial"), cache),
                _jit(numba, input_product, cache, parallel=True),
            )

        try:
            kernel, serial, product = build(True)
            _state.cached = True
        except RuntimeError:  # "cannot cache function ...: no locator available"
            kernel, serial, product = build(False)
            _state.cached = False
        a1 = np.zeros(4, dtype=np.float32)
        a2 = np.zeros((1, 4), dtype=np.float32)
        b2 = np.zeros((1, 1), dtype=np.float32)
        for k in (kernel, serial):
            k(a2, a1, np.zeros((1, 4, 1), dtype=np.float32), a1[:1], a1[:1], a2, *([b2] * 6))
        product(b2, np.zeros((1, 4), dtype=np.float32), a2)
        _state.product = product
        _state.serial_kernel = serial
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
    """Whether ``layer`` is one the compiled loop computes: an LSTM with
    PyTorch's defaults (no projection, default activations, no clip, forward), float32."""
    from .cells import is_plain

    if layer.cell != "lstm" or layer.reverse or not is_plain(layer):
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


def choose(H: int) -> str:
    """The kernel the next block of steps of width H would run on: ``"serial"`` or ``"parallel"``."""
    return "parallel" if _choose(H) else "serial"


def run(layer, x: np.ndarray, h0: np.ndarray, c0: np.ndarray | None, out: dict | None = None) -> dict | None:
    """:func:`cells.run` for a layer the compiled loop applies to, if it is ready;
    None (so that the caller runs NumPy) otherwise.

    x (T, E), h0 and c0 (H,). ``out``, if given, holds arrays to write into:
    ``xW`` and ``hW`` (T, 4H), i f g o c h (T, H), float32 and C-contiguous
    (any that are not are allocated here). Returns the dict of the same keys.
    """
    if c0 is None or not applies(layer) or not will_run():
        return None
    T, H = x.shape[0], layer.hidden_size
    f32 = np.float32
    out = dict(out or {})
    for name, shape in (("xW", (T, 4 * H)), ("hW", (T, 4 * H)), *((q, (T, H)) for q in "ifgoch")):
        a = out.get(name)
        if a is None or a.shape != shape or a.dtype != f32 or not a.flags.c_contiguous or not a.flags.writeable:
            out[name] = np.empty(shape, dtype=f32)
    x = np.ascontiguousarray(x, dtype=f32)  # (T, E)
    W_ihT = np.ascontiguousarray(layer.W_ih.T)  # (E, 4H)
    b = layer.b_ih + layer.b_hh  # (4H,)
    W4 = np.ascontiguousarray(layer.W_hh.reshape(4, H, H).transpose(1, 0, 2))  # (H, 4, H)
    h0 = np.ascontiguousarray(h0, dtype=f32)  # (H,)
    c0 = np.ascontiguousarray(c0, dtype=f32)  # (H,)
    pin = getattr(_local, "use", None)
    with _state.serial or contextlib.nullcontext():
        _state.product(x, W_ihT, out["xW"])
        # A block of steps at a time, each from the state the last one ended in, by
        # the kernel (one core or all) that has lately been the faster for this H.
        for a in range(0, T, STEPS_PER_CALL):
            z = min(T, a + STEPS_PER_CALL)
            parallel = pin == "parallel" if pin in KERNELS else _choose(H)
            t0 = time.perf_counter()
            (_state.kernel if parallel else _state.serial_kernel)(
                out["xW"][a:z], b, W4, h0, c0, out["hW"][a:z], *(out[q][a:z] for q in "ifgoch")
            )
            _learn(H, parallel, (time.perf_counter() - t0) / (z - a))
            h0, c0 = out["h"][z - 1], out["c"][z - 1]
    return out


STEPS_PER_CALL = 512  # steps per kernel call: the choice of kernel is made again after each block
PROBE_EVERY = 16  # every so many blocks, the kernel that is not chosen is timed again


def _choose(H: int) -> bool:
    """Whether the next block of steps of width H runs on all cores: the kernel that has
    been faster lately, each tried once first and the other again now and then (the load
    of a shared machine changes which one wins)."""
    _state.calls += 1
    cost = _state.cost
    if (H, True) not in cost:
        return True
    if (H, False) not in cost:
        return False
    best = cost[(H, True)] <= cost[(H, False)]
    return (not best) if _state.calls % PROBE_EVERY == 0 else best


def _learn(H: int, parallel: bool, seconds_per_step: float) -> None:
    old = _state.cost.get((H, parallel))
    _state.cost[(H, parallel)] = seconds_per_step if old is None else 0.5 * old + 0.5 * seconds_per_step
