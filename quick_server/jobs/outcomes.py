"""What a job sends back from another process or machine, made so that
whatever the server cannot rebuild still settles the job.

An outcome is `("done", value)`, `("error", type name, message, traceback
text, exception or None)` or `("cancelled",)`. A job that runs elsewhere
(the server's job processes, a `ProcessPoolExecutor`, Dask) sends its
value and exception pickled *inside* the outcome (`pack`), and the server
unpickles them itself (`unpack`): an exception whose class cannot be
rebuilt (its `__init__` takes other arguments than its `args`, as in many
libraries) keeps its type name and message as text, and a result that
cannot be rebuilt is an error, instead of an exception in whatever reads
the answer (a job stuck for good, a broken `ProcessPoolExecutor`, a Dask
future that never settles)."""
from __future__ import annotations

import concurrent.futures
import pickle
import sys
import traceback
from typing import Any

from ..http.files import FileResponse

Outcome = tuple[Any, ...]


class RecordedResult(str):
    """A `("done", ...)` value that is the result's JSON text already, as
    another process recorded it in the job store (`following.py`): the
    table holds it as it is, with no encoding (nor caching) again."""


class JobFailed(Exception):
    """A job raised an exception where it ran; `type_name` and `message`
    describe it (the traceback went to the server log)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.message = message


def describe(err: BaseException) -> str:
    """`str(err)`, or a placeholder when the exception cannot say it."""
    try:
        return str(err)
    except Exception:  # pylint: disable=broad-except
        return f"<{type(err).__name__} that cannot be printed>"


def error_outcome(err: BaseException, message: str | None = None
                  ) -> Outcome:
    """The outcome of a job that raised `err` (`message`: other text than
    the exception's own)."""
    try:
        text = "".join(traceback.format_exception(type(err), err,
                                                  err.__traceback__))
    except Exception:  # pylint: disable=broad-except
        text = ""
    return ("error", type(err).__name__,
            describe(err) if message is None else message, text, err)


def _dumps(value: Any) -> bytes:
    """Pickles `value`, with cloudpickle where it is loaded already (on a
    Dask worker: a class of the client's script travels by value)."""
    cloudpickle = sys.modules.get("cloudpickle")
    dumps = getattr(cloudpickle, "dumps", None) or pickle.dumps
    data = dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    assert isinstance(data, bytes)
    return data


def pack(outcome: Outcome) -> Outcome:
    """`outcome` with its value or exception pickled, ready to cross to
    the server (it holds only strings, bytes and None). A value that
    cannot be pickled is an error; an exception that cannot be is sent
    as its text alone."""
    if outcome[0] == "done":
        try:
            return ("done", _dumps(outcome[1]))
        except Exception as err:  # pylint: disable=broad-except
            return ("error", type(err).__name__,
                    f"the result cannot be sent back: {describe(err)}",
                    "", None)
    if outcome[0] == "error":
        try:
            exc = None if outcome[4] is None else _dumps(outcome[4])
        except Exception:  # pylint: disable=broad-except
            exc = None
        return (*outcome[:4], exc)
    return outcome


def unpack(packed: Outcome) -> Outcome:
    """The outcome that `pack` made, rebuilt in the server. A result that
    cannot be rebuilt is an error; an exception that cannot be keeps its
    type name and message (as text)."""
    if packed[0] == "done":
        try:
            return ("done", pickle.loads(packed[1]))
        except Exception as err:  # pylint: disable=broad-except
            return error_outcome(err, f"the result of the job cannot be "
                                      f"rebuilt in the server: "
                                      f"{describe(err)}")[:4] + (None,)
    if packed[0] == "error":
        exc = None
        try:
            if packed[4] is not None:
                exc = pickle.loads(packed[4])
        except Exception:  # pylint: disable=broad-except
            pass  # (the type name and message are text: they are kept)
        return (*packed[:4], exc)
    return packed


class Shipment:
    """A job's outcome as an executor's job returns it: the outcome itself
    when it stays in this process (a thread pool), packed when it is
    pickled to cross to the server (a process pool, Dask); `open()` gives
    the outcome back."""

    def __init__(self, outcome: Outcome | None = None,
                 packed: Outcome | None = None) -> None:
        self.outcome = outcome
        self.packed = packed

    def __reduce__(self) -> tuple[Any, ...]:
        packed = self.packed
        if packed is None:
            assert self.outcome is not None
            packed = pack(self.outcome)
        return (Shipment, (None, packed))

    def open(self) -> Outcome:
        """The outcome, rebuilt if it came from elsewhere."""
        if self.outcome is not None:
            return self.outcome
        assert self.packed is not None
        return unpack(self.packed)


def settle_future(future: concurrent.futures.Future[Any], kind: str,
                  outcome: Outcome, error: dict[str, str] | None) -> None:
    """Hands a `submit` job's outcome (`kind`: done, error or cancelled)
    to its future; a file it answered with is released when nobody takes
    the future any more."""
    if not future.set_running_or_notify_cancel():  # nobody takes it
        if kind == "done" and isinstance(outcome[1], FileResponse):
            outcome[1].release()  # (removes a delete=True file)
        return
    if kind == "done":
        future.set_result(outcome[1])
    elif kind == "error" and error is not None:
        original = outcome[4] if len(outcome) > 4 else None
        future.set_exception(original if isinstance(original, BaseException)
                             else JobFailed(error["type"], error["message"]))
    else:
        future.set_exception(concurrent.futures.CancelledError())
