"""Server messages: `msg`, `debug`, the log file, and human-readable sizes
and durations for request log lines."""
from __future__ import annotations

import re
import sys
import threading
import traceback
from typing import Any, Callable, TextIO

_LOCK = threading.Lock()
_LOG_FILE: TextIO | None = None
# shown on the terminal while a command is awaited: the prompt, or a
# function that returns it with what is typed so far
_PROMPT: str | Callable[[], str] | None = None
DEBUG = False
PREFIX = "[SERVER] "


def set_log_file(log_file: TextIO | None) -> None:
    """Sends every later message to `log_file` (stderr when `None`)."""
    global _LOG_FILE  # pylint: disable=global-statement
    _LOG_FILE = log_file


def set_prompt(prompt: str | Callable[[], str] | None) -> None:
    """While a command prompt waits on the terminal, messages written to
    it clear the prompt's line first and draw it again after: `prompt`,
    or `prompt()` (the prompt and the partly typed command; it must not
    log)."""
    global _PROMPT  # pylint: disable=global-statement
    with _LOCK:
        _PROMPT = prompt


def end_prompt() -> None:
    """The prompt is gone for good (the server stops): its line is
    cleared once, and later messages are written plainly."""
    global _PROMPT  # pylint: disable=global-statement
    with _LOCK:
        if _PROMPT is not None and _LOG_FILE is None:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()
        _PROMPT = None


def msg(message: Any, *args: Any, **kwargs: Any) -> None:
    """Logs a message; with arguments it is a `str.format` template, as in
    `msg("{0} requests", n)`. Every line gets the server prefix."""
    text = str(message)
    if args or kwargs:
        text = text.format(*args, **kwargs)
    out = "".join(f"{PREFIX}{line}\n" for line in text.splitlines() or [""])
    with _LOCK:
        target = _LOG_FILE if _LOG_FILE is not None else sys.stderr
        if _PROMPT is not None and target is sys.stderr:
            out = f"\r\x1b[K{out}{_prompt_text(_PROMPT)}"
        target.write(out)
        target.flush()


def _prompt_text(prompt: str | Callable[[], str]) -> str:
    if isinstance(prompt, str):
        return prompt
    try:
        return prompt()
    except Exception:  # pylint: disable=broad-except
        return ""


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def escape_control(text: str) -> str:
    """`text` with every control character written as `\\xNN` (as
    CPython's http.server logs): a value from a client can never move the
    cursor, clear the screen or set the terminal's title."""
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def debug(fun: Callable[[], Any]) -> None:
    """Logs `fun()` only when `quick_server.log.DEBUG` is set, so costly
    messages are never built otherwise."""
    if DEBUG:
        msg("[DEBUG] {0}", fun())


def log_exception(context: str) -> None:
    """Logs the exception being handled with its traceback."""
    msg("{0}\n{1}", context, traceback.format_exc().rstrip())


def size_string(size: int | float) -> str:
    """`1536` -> `"1.5 KiB"`."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else \
                f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def elapsed_string(seconds: float) -> str:
    """`0.0123` -> `"12.3ms"`, `75` -> `"1min 15s"`."""
    if seconds < 1:
        return f"{seconds * 1000:.1f}ms"
    if seconds < 60:
        return f"{seconds:.2f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}min {secs}s"
