"""Runs one call sequence on each side: the model in this process, a C implementation in a
forked child per sequence.

The child starts from the library's pristine globals (the parent never calls into it), runs
the calls and streams each call's observation back through a pipe as soon as it is made. A
``psc_abort`` (a panic or a KASSERT) writes its kind and message to a second pipe and ends the
child; a signal (``SIGSEGV``...) ends it too; a call that sends nothing for ``hang_timeout``
seconds is killed and reported as a hang. The parent is never at risk.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import select
import signal
import struct
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Final

from physseg.conformance.calls import Call
from physseg.conformance.model import ABORTS, abort_kind
from physseg.conformance.observe import Machine, Observer
from physseg.conformance.pipes import read_all, silence_child, write_all
from physseg.conformance.trace import Abort, Trace

ABORT_STATUS: Final = 86
"""The exit status of a child ended by ``psc_abort`` (``csrc/psc_runtime.c``)."""
HARNESS_STATUS: Final = 87
"""The exit status of a child whose Python side failed (a harness bug)."""
_HEADER: Final = struct.Struct("<I")


class HarnessError(Exception):
    """The child failed in the harness itself (not in the implementation): ``detail`` holds
    its traceback."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def observe_steps(
    observer: Observer, calls: Sequence[Call], emit: Callable[[object], None]
) -> None:
    """Run ``calls`` on ``observer`` and emit ``(result, state)`` after each; the last call's
    state (and a ``page_init``'s) holds every page. Raises what the machine raises."""
    for i, call in enumerate(calls):
        result = observer.run(call)
        full = i == len(calls) - 1 or call.name == "page_init"
        emit((result, observer.state(full)))


def run_model(machine: Machine, calls: Sequence[Call]) -> Trace:
    """The model's trace of ``calls``: its aborts (:data:`~physseg.conformance.model.ABORTS`)
    end the trace as an :class:`Abort`. O(calls · state). Raises anything else the model
    raises (a harness or model bug)."""
    trace = Trace()
    observer = Observer(machine)
    machine.boot()
    try:
        observe_steps(observer, calls, trace.steps.append)  # type: ignore[arg-type]
    except ABORTS as exc:
        trace.abort = Abort(len(trace.steps), abort_kind(exc), str(exc))
    return trace


def run_forked(
    machine: Callable[[], Machine],
    calls: Sequence[Call],
    hang_timeout: float,
    set_abort_fd: Callable[[int], None] | None = None,
) -> Trace:
    """The trace of ``calls`` on a machine made by ``machine()`` in a forked child. O(calls ·
    state) plus a fork. Raises :class:`HarnessError` when the child's Python side fails."""
    results_r, results_w = os.pipe()
    abort_r, abort_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child's coverage is not collected
        os.close(results_r)
        os.close(abort_r)
        _child(machine, calls, results_w, abort_w, set_abort_fd)
    os.close(results_w)
    os.close(abort_w)
    try:
        trace, hung = _collect(results_r, hang_timeout)
        if hung:
            os.kill(pid, signal.SIGKILL)
        _, status = os.waitpid(pid, 0)
        message = read_all(abort_r)
    finally:
        os.close(results_r)
        os.close(abort_r)
    step = len(trace.steps)
    if hung:
        trace.abort = Abort(step, "hang", f"no answer within {hang_timeout:g} s")
        return trace
    ending = child_ending(status, message)
    if ending is None and step < len(calls):
        ending = ("exit", "exit status 0")
    if ending is not None:
        kind, detail = ending
        if kind == "harness":
            raise HarnessError(detail)
        if kind not in ("signal", "exit", "panic", "kassert", "hang"):
            kind = "panic"
        trace.abort = Abort(step, kind, detail)
    return trace


def child_ending(status: int, message: str) -> tuple[str, str] | None:
    """How a forked child of the harness ended, from its wait ``status`` and what it wrote on
    its abort pipe (``message``): ``None`` for exit status 0; ``("signal", "SIGSEGV")``;
    ``(kind, text)`` after ``psc_abort(kind, text)``; ``("harness", traceback)`` when its
    Python side failed; ``("exit", "exit status N")`` otherwise. O(len(message)). Raises
    nothing."""
    if os.WIFSIGNALED(status):
        return "signal", signal.Signals(os.WTERMSIG(status)).name
    code = os.WEXITSTATUS(status)
    if code == ABORT_STATUS:
        kind, _, text = message.partition("\t")
        return kind, text
    if code == HARNESS_STATUS:
        return "harness", message
    return None if code == 0 else ("exit", f"exit status {code}")


def _child(  # pragma: no cover - runs in the forked child
    machine: Callable[[], Machine],
    calls: Sequence[Call],
    results_w: int,
    abort_w: int,
    set_abort_fd: Callable[[int], None] | None,
) -> None:
    silence_child()
    try:
        if set_abort_fd is not None:
            set_abort_fd(abort_w)
        m = machine()
        m.boot()

        def emit(step: object) -> None:
            blob = pickle.dumps(step, protocol=pickle.HIGHEST_PROTOCOL)
            write_all(results_w, _HEADER.pack(len(blob)) + blob)

        observe_steps(Observer(m), calls, emit)
    except BaseException as exc:
        if isinstance(exc, ABORTS):
            write_all(abort_w, f"{abort_kind(exc)}\t{exc}".encode())
            os._exit(ABORT_STATUS)
        write_all(abort_w, traceback.format_exc().encode(errors="replace"))
        os._exit(HARNESS_STATUS)
    os._exit(0)


def _collect(fd: int, hang_timeout: float) -> tuple[Trace, bool]:
    """Read the child's steps until EOF; ``hung`` when nothing came for ``hang_timeout``."""
    trace = Trace()
    buffer = b""
    deadline = time.monotonic() + hang_timeout
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return trace, True
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            return trace, True
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            return trace, False
        buffer += chunk
        while len(buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buffer)
            if len(buffer) < _HEADER.size + size:
                break
            trace.steps.append(pickle.loads(buffer[_HEADER.size : _HEADER.size + size]))
            buffer = buffer[_HEADER.size + size :]
            deadline = time.monotonic() + hang_timeout


def abort_fd_setter(runtime: ctypes.CDLL) -> Callable[[int], None]:
    """The runtime's ``psc_runtime_set_abort_fd`` as a callable for :func:`run_forked`."""
    function = runtime.psc_runtime_set_abort_fd
    function.restype = None
    function.argtypes = [ctypes.c_int]

    def set_fd(fd: int) -> None:
        function(fd)

    return set_fd
