"""Work off the UI's time: tracing a long input, scanning a long trace (or one still traced) for a breakpoint.

Each worker runs in a thread and reports with a message below; the app
handles them here too (``on_trace_progress`` ...), dropping news of an input
or a trace that has been replaced since. A new worker of the same group
cancels the old one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial

from textual.message import Message
from textual.worker import get_current_worker

from ..core import scan, tracing
from ..core.breakpoints import Breakpoint
from ..core.checkpoint import CheckpointedTrace, step_seconds
from ..core.errors import InputError, UserError
from ..core.trace import Trace
from ..widgets.update import update


class TraceProgress(Message):
    """From the tracing worker: the steps computed so far."""

    def __init__(self, gen: int, trace, done: int, total: int, first: bool, text: str) -> None:
        super().__init__()
        self.gen, self.trace, self.done, self.total, self.first, self.text = gen, trace, done, total, first, text


class TraceFailed(Message):
    """From the tracing worker: the input was refused."""

    def __init__(self, gen: int, error: str) -> None:
        super().__init__()
        self.gen, self.error = gen, error


class ScanProgress(Message):
    """From a breakpoint scan of a long trace: the step it has reached (``run``: which worker says it)."""

    def __init__(self, run: object, step: int) -> None:
        super().__init__()
        self.run, self.step = run, step


class ScanDone(Message):
    """From a breakpoint scan of a long trace: the step found (None: none), or an error."""

    def __init__(self, run: object, trace, direction: int, k: int | None, error: str | None = None) -> None:
        super().__init__()
        self.run, self.trace, self.direction, self.k, self.error = run, trace, direction, k, error


@dataclass(eq=False)
class ScanJob:
    """A breakpoint scan of c / C under way: what it looks for, from which step, on which trace."""

    direction: int
    bps: list[Breakpoint]
    layer: int
    origin: int  # the step c was pressed at
    latest: object  # the run on screen it scans: the last snapshot of an input being traced
    trace: object = None  # the trace its worker scans; None: waiting for more steps to be traced
    resume: int = 0  # the step it goes on from once they are in
    run: object = None  # its worker's own token: the news of a worker replaced or cancelled is not its


class Workers:
    """Mixed into ``LstmApp``: starts and stops the workers and takes in their news."""

    _scan_job: ScanJob | None = None  # the scan under way (``scanning`` is the step it has reached)

    def _expensive(self, inputs) -> bool:
        """Whether tracing ``inputs`` would keep the screen waiting (at most one step a character)."""
        return len(inputs) * step_seconds(self.model) > self.SYNC_SECONDS

    def _start_tracing(self, inputs, text: str) -> None:
        """Trace ``inputs`` in a worker thread, showing the steps done as they come."""
        self._trace_gen += 1
        self.tracing = (0, len(inputs))
        self._traced_text = text  # what Esc puts back in the input line until it is the text on screen
        update(self._status, self.status_line())
        self.run_worker(
            partial(self._trace_in_thread, inputs, text, self._trace_gen),
            name="trace", group="trace", exclusive=True, thread=True, exit_on_error=False,
        )

    def _trace_in_thread(self, inputs, text: str, gen: int) -> None:
        """The worker: a chunk of about 50 ms at a time, news at most every 0.1 s (first chunk at once).
        A failure is said, and the steps traced so far stay on screen: a bug must not close the session."""
        try:
            self._trace_chunks(inputs, text, gen)
        except UserError as exc:
            self.post_message(TraceFailed(gen, str(exc)))
        except Exception as exc:  # MemoryError, or a bug: the input is dropped, the app goes on
            self.post_message(TraceFailed(gen, f"tracing stopped ({type(exc).__name__}: {exc})"))

    def _trace_chunks(self, inputs, text: str, gen: int) -> None:
        worker = get_current_worker()
        builder = self._trace_builder(inputs)
        first, last = True, 0.0
        while not worker.is_cancelled:
            # While the user is moving, step aside: on two cores, a trace that keeps both
            # busy (BLAS threads) triples the time a step takes to reach the screen.
            pause = self._last_move + self.YIELD_SECONDS - time.monotonic()
            if pause > 0 and not first:
                time.sleep(min(pause, 0.05))
                continue
            builder.advance(seconds=0.02)
            now = time.monotonic()
            if first or builder.complete or now - last >= 0.1:
                self.post_message(
                    TraceProgress(gen, builder.snapshot(), builder.done, builder.total, first, text)
                )
                first, last = False, now
            if builder.complete:
                return

    def on_trace_progress(self, message: TraceProgress) -> None:
        if message.gen != self._trace_gen:
            return  # news of an input replaced since
        self.tracing = None if message.done >= message.total else (message.done, message.total)
        if message.first:
            self.text = message.text
            self.set_trace(message.trace)
        else:  # the same run, more steps: stay where the user is
            self.trace = message.trace
            if self._scan_job is not None:  # a scan of the steps so far goes on over these
                self._scan_job.latest = message.trace
                if self._scan_job.trace is None:
                    self._scan_on(message.trace, self._scan_job.resume)
            if self.tracing is None and self.watch_exprs:  # the whole run at last: its watches' series
                self._compute_watches()  # (which shows them)
            else:
                self.refresh_view()

    def on_trace_failed(self, message: TraceFailed) -> None:
        if message.gen == self._trace_gen:
            self.tracing = None
            update(self._status, self.status_line())
            self.notify(message.error, severity="error")
            # The steps traced so far are all there will be: what waited for more is done on them.
            job = self._scan_job
            if job is not None and job.trace is None:  # a scan waiting for steps that will not come
                self._scan_on(self.trace, job.resume)
            if self.watch_exprs:  # their series were of an earlier snapshot, or still to come
                self._compute_watches()

    def _around(self, k: int) -> tuple[Trace, int]:
        """A full trace holding step k with a step each side, and k's index in it."""
        tr = self.trace
        if not isinstance(tr, CheckpointedTrace):
            return tr, k
        win = tr.window(k - 1, k + 2)
        return win, k - win.offset

    def _stop_scan(self) -> bool:
        """Stop a breakpoint scan in a worker; whether one was running."""
        if self.scanning is None:
            return False
        self.workers.cancel_group(self, "scan")
        self.scanning, self._scan_job = None, None
        update(self._status, self.status_line())
        return True

    def _start_scan(self, direction: int) -> None:
        """Scan for the next step where an enabled breakpoint holds, in a worker: a long trace, or the
        steps of an input traced so far (and, forward, those still to come: ``on_scan_done``)."""
        bps = [bp for bp in self.breakpoints if bp.enabled]
        self._scan_job = ScanJob(direction, bps, self.layer, self.k, self.trace)
        self._scan_on(self.trace, self.k)

    def _scan_on(self, trace, start: int) -> None:
        """The scan job's worker, on ``trace`` from (not including) step ``start``."""
        job = self._scan_job
        job.trace, job.run = trace, object()
        self.scanning = start
        update(self._status, self.status_line())
        self.run_worker(
            partial(self._scan_in_thread, job.run, trace, job.bps, job.layer, start, job.direction),
            name="scan", group="scan", exclusive=True, thread=True, exit_on_error=False,
        )

    def _scan_in_thread(self, run, trace, bps: list[Breakpoint], layer: int, k: int, direction: int) -> None:
        """The worker of c / C: window by window on a long trace, the step reached shown every 0.1 s."""
        worker = get_current_worker()
        last = [0.0]

        def progress(step: int) -> bool:
            now = time.monotonic()
            if now - last[0] >= 0.1:
                last[0] = now
                self.post_message(ScanProgress(run, step))
            return not worker.is_cancelled

        try:
            hit = scan.find_next(trace, bps, layer, k, direction, vocab=self.model.vocab, progress=progress)
        except InputError as exc:
            self.post_message(ScanDone(run, trace, direction, None, str(exc)))
            return
        except Exception as exc:  # a bug in the evaluator: said, the scan stopped, the session kept
            self.post_message(ScanDone(run, trace, direction, None, f"breakpoint scan failed ({type(exc).__name__}: {exc})"))
            return
        if not worker.is_cancelled:
            self.post_message(ScanDone(run, trace, direction, hit))

    def on_scan_progress(self, message: ScanProgress) -> None:
        if self._scan_job is not None and message.run is self._scan_job.run:
            self.scanning = message.step
            update(self._status, self.status_line())

    def on_scan_done(self, message: ScanDone) -> None:
        """The scan's answer on the trace it was given, if it still stands for the trace on screen.

        While an input is traced, a scan forward covers the steps traced so far; without a hit there
        (or with one at the last of them, whose next token was not known yet) it goes on from that
        step once more steps are in, and only the whole run can say there is no breakpoint. A run
        put on screen otherwise meanwhile is scanned again from the step the scan set out from."""
        job = self._scan_job
        if job is None or message.run is not job.run:
            return  # stopped, or the news of a scan since replaced
        if message.error:
            self._stop_scan()
            self.notify(message.error, severity="error", timeout=8)
            return
        if self.trace is not job.latest:  # not more steps of the same run: another run
            job.latest = self.trace
            self._scan_on(self.trace, job.origin)
            return
        end = message.trace.steps
        more = self.tracing is not None or self.trace.steps > end  # steps past the end of those scanned
        if job.direction > 0 and more and (message.k is None or message.k >= end - 1):
            job.resume = max(job.origin, end - 2)  # the last step scanned, checked again with its next token
            if self.trace.steps > end:
                self._scan_on(self.trace, job.resume)
            else:  # on_trace_progress goes on once more steps are in
                job.trace = None
                self.scanning = end - 1
                update(self._status, self.status_line())
            return
        self._stop_scan()
        self._arrive(message.k, message.direction, job.origin, job.layer, job.bps)

    def run_text(self, text: str) -> None:
        """Trace ``text``; on failure say why and keep the current trace.

        A long text is traced in a worker thread: its first steps show at
        once and more follow (the status line says how far it has got); a new
        text stops it.
        """
        if self._expensive(text):
            self._start_tracing(text, text)
            return
        try:
            trace = tracing.trace(self.model, text, self.FULL_TRACE_BYTES)
        except UserError as exc:
            self.notify(str(exc), severity="error")
            return
        self._trace_gen += 1  # news from a worker still running for an older text is now stale
        self.workers.cancel_group(self, "trace")
        self.tracing = None
        self.text = text
        self.set_trace(trace)
