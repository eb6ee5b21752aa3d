"""NumPy's BLAS held to one thread while a window is recomputed, by threadpoolctl when installed."""

from __future__ import annotations

import contextlib
import threading

_blas = None  # threadpoolctl's controller of this process's BLAS, found once
_blas_lock = threading.Lock()
_blas_users = 0  # contexts of one_blas_thread open now, in any thread
_blas_limit = None  # the limit they share: undone by the last to close


@contextlib.contextmanager
def one_blas_thread():
    """A context in which NumPy's BLAS uses one thread (threadpoolctl); without
    threadpoolctl, a context that changes nothing.

    BLAS's thread count belongs to the process, and the app's tracing worker
    and its main thread both enter this: contexts that overlap share one
    limit, and the last to close restores what was there before the first.
    (Each restoring its own saved count would leave one thread for good when
    the second saved the first's limit and closed last.)

    OpenBLAS (0.3.31, pthreads) also ignores every other thread's count once
    the main thread has set one (measured: the main thread lowers it, a
    worker cannot raise it again), while counts set by other threads hold for
    all; so the limit is set and undone from threads other than the main one.
    (A caller that set the count from its main thread before, as
    ``threadpool_limits`` does, leaves it as it was: the limit then does not
    take, which costs speed, never a thread for good.)"""
    global _blas, _blas_users, _blas_limit
    if _blas is None:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas = False
        else:
            _blas = ThreadpoolController()
    if not _blas:
        yield
        return
    with _blas_lock:
        if not _blas_users:
            _blas_limit = _off_main(lambda: _blas.limit(limits=1, user_api="blas"))
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if not _blas_users:
                _off_main(_blas_limit.restore_original_limits)
                _blas_limit = None


def _off_main(fn):
    """fn(), called from a short-lived thread when this is the main thread; its error raised here."""
    if threading.current_thread() is not threading.main_thread():
        return fn()
    out: list = []

    def call():
        try:
            out.append((fn(), None))
        except Exception as e:  # handed to the caller, not to the thread's excepthook
            out.append((None, e))

    t = threading.Thread(target=call, name="lstm-tui-blas-limit")
    t.start()
    t.join()
    value, error = out[0]
    if error is not None:
        raise error
    return value
