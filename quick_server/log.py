"""Server messages: `msg`, `debug`, the log file, request log lines, and
human-readable sizes and durations.

Every message starts with the local time (milliseconds too) and the
server prefix; its control characters (all but newline) are written
escaped, and its further lines are indented, so that no value in it can
pass for a log line of its own or drive the terminal. On a terminal,
unless `NO_COLOR` is set (or `TERM` is "dumb"), the time is dimmed and
request lines are coloured by their outcome: 4xx yellow, 5xx red, slow
requests magenta.

Every message is also a `logging` record, for whoever listens: server
messages on the logger "quick_server", request lines on
"quick_server.access" (with the request's fields as attributes), job
events on "quick_server.jobs"; see `_route`."""
from __future__ import annotations

import os
import re
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, TextIO

if TYPE_CHECKING:
    import logging

_LOCK = threading.Lock()
_LOG_FILE: TextIO | None = None
# shown on the terminal while a command is awaited: the prompt, or a
# function that returns it with what is typed so far
_PROMPT: str | Callable[[], str] | None = None
DEBUG = False
DEFAULT_PREFIX = "[SERVER] "
PREFIX = DEFAULT_PREFIX  # at the start of every line (after the time)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # None: lines without a time
MIN_INDENT = 4  # spaces before a message's further lines, at least

DIM, RESET = "\x1b[2m", "\x1b[0m"
YELLOW, RED, MAGENTA = "\x1b[33m", "\x1b[31m", "\x1b[35m"

# the loggers of the records; levels as `logging` numbers them (it is
# imported by whoever configures it, never here: see `_route`)
SERVER_LOGGER = "quick_server"
ACCESS_LOGGER = "quick_server.access"
JOBS_LOGGER = "quick_server.jobs"
_DEBUG, _INFO, _WARNING, _ERROR = 10, 20, 30, 40

REQUEST_FORMAT = '{client} "{request}" {status} {size} {ms:.1f} ms'
REQUEST_FIELDS: dict[str, Any] = {  # the fields, with example values
    "client": "127.0.0.1", "request": "GET /a?b=1 HTTP/1.1",
    "method": "GET", "path": "/a?b=1", "status": 200, "size": "1.5 KiB",
    "bytes": 1536, "ms": 1.25, "elapsed": "1.2ms", "route": "static",
    "user_agent": "curl/8.5.0", "referer": "-"}


def set_log_file(log_file: TextIO | None) -> None:
    """Sends every later message to `log_file`, whatever `logging`
    handlers are configured too (`None`: to stderr, unless handlers are
    configured)."""
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
    `msg("{0} requests", n)`. Written as `_write` says: escaped, its
    first line after the time and prefix, the others indented. Its record
    goes to the logger "quick_server" (level INFO)."""
    _say(SERVER_LOGGER, _INFO, message, args, kwargs)


def warning(message: Any, *args: Any, **kwargs: Any) -> None:
    """`msg` at level WARNING (the line is the same)."""
    _say(SERVER_LOGGER, _WARNING, message, args, kwargs)


def job_msg(message: Any, *args: Any, **kwargs: Any) -> None:
    """`msg` of a job event: its record goes to "quick_server.jobs"."""
    _say(JOBS_LOGGER, _INFO, message, args, kwargs)


def job_warning(message: Any, *args: Any, **kwargs: Any) -> None:
    """`job_msg` at level WARNING (the line is the same)."""
    _say(JOBS_LOGGER, _WARNING, message, args, kwargs)


def job_error(message: Any, *args: Any, **kwargs: Any) -> None:
    """`job_msg` at level ERROR (the line is the same)."""
    _say(JOBS_LOGGER, _ERROR, message, args, kwargs)


def _say(name: str, level: int, message: Any, args: tuple[Any, ...],
         kwargs: dict[str, Any]) -> None:
    heard, write = _route(name, level)
    if not (heard or write):
        return
    text = str(message)
    if args or kwargs:
        text = text.format(*args, **kwargs)
    text = _escape_message(text)
    if heard:
        _hand_over(name, level, text, None)
    if write:
        _write(text, "")


def request(line_format: str, fields: Mapping[str, Any], status: int,
            slow: bool, *, method: str | None = None,
            path: str | None = None, seconds: float | None = None,
            line: str = "") -> None:
    """Logs a request line: `line_format` (see `REQUEST_FORMAT`) filled
    with `fields`, coloured by `status` on a terminal. Its record goes to
    "quick_server.access" (level INFO), with the attributes `client`,
    `method`, `path` (as the client sent them: data, not escaped; from
    the request line `line` when the request was refused before they
    were known), `status`, `size` (bytes), `duration` (seconds) and
    `slow`."""
    heard, write = _route(ACCESS_LOGGER, _INFO)
    if not (heard or write):
        return
    text = line_format.format_map(fields)
    if slow:
        text, colour = "SLOW REQUEST " + text, MAGENTA
    else:
        colour = RED if status >= 500 else YELLOW if status >= 400 else ""
    text = _escape_message(text)
    if heard:
        if not method:
            parts = line.split(" ")
            if len(parts) == 3 and parts[2].startswith("HTTP/"):
                method, path = parts[0], parts[1]
        ms = fields.get("ms")
        _hand_over(ACCESS_LOGGER, _INFO, text, {
            "client": fields.get("client"),
            "method": fields.get("method") if method is None else method,
            "path": fields.get("path") if path is None else path,
            "status": status, "size": fields.get("bytes"),
            "duration": seconds if seconds is not None
            else ms / 1000 if ms is not None else None,
            "slow": slow})
    if write:
        _write(text, colour)


def check_request_format(line_format: str) -> str:
    """`line_format` when it can fill a request line (ValueError naming
    the fields otherwise)."""
    try:
        line_format.format_map(REQUEST_FIELDS)
    except (KeyError, IndexError, ValueError, AttributeError,
            TypeError) as err:
        raise ValueError(f"bad log_format {line_format!r} ({err!r}); its "
                         f"fields: {', '.join(REQUEST_FIELDS)}") from None
    return line_format


class _Clock:
    """The time at the start of a line, formatted at most once a second."""

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        if TIME_FORMAT is None:
            return ""
        stamp = time.time()
        second = int(stamp)
        if second != self._second:
            self._text = time.strftime(TIME_FORMAT, time.localtime(second))
            self._second = second
        return f"{self._text}.{int(stamp % 1 * 1000):03d} "


_CLOCK = _Clock()
_TTY: tuple[Any, bool] = (None, False)  # the last target, is a terminal


def uses_colour(target: Any) -> bool:
    """Whether lines written to `target` get colours: a terminal, and
    neither `NO_COLOR` (https://no-color.org) nor `TERM=dumb`."""
    global _TTY  # pylint: disable=global-statement
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    if _TTY[0] is not target:
        try:
            _TTY = (target, bool(target.isatty()))
        except (AttributeError, ValueError, OSError):
            _TTY = (target, False)
    return _TTY[1]


def _escape_message(text: str) -> str:
    """`text` escaped (see `escape_control`) but for its newlines, without
    its last newlines."""
    if text.isprintable():
        return text
    return _CONTROL_BUT_NEWLINE.sub(_escaped, text.rstrip("\n"))


def _write(text: str, colour: str) -> None:
    """Writes the message `text`, escaped already (`_escape_message`), each
    further line indented under its first line's text."""
    with _LOCK:
        target = _LOG_FILE if _LOG_FILE is not None else sys.stderr
        stamp = _CLOCK.now()
        coloured = uses_colour(target)
        start, end = (colour, RESET) if colour and coloured else ("", "")
        if "\n" in text:
            indent = " " * max(len(stamp) + len(PREFIX), MIN_INDENT)
            text = text.replace("\n", f"{end}\n{indent}{start}")
        if coloured and stamp:
            stamp = f"{DIM}{stamp}{RESET}"
        out = f"{stamp}{PREFIX}{start}{text}{end}\n"
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


# control characters (C0, DEL, C1), Unicode line and paragraph separators,
# and the bidirectional controls that reorder what a line shows
_CONTROLS = ("\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e"
             "\u2066-\u2069")
_CONTROL = re.compile(f"[\n{_CONTROLS}]")
_CONTROL_BUT_NEWLINE = re.compile(f"[{_CONTROLS}]")


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """`text` with every control character (newline too) written as
    `\\xNN` (as CPython's http.server logs), or `\\uNNNN` for line
    separators and bidirectional controls: a value from a client can never
    move the cursor, clear the screen, set the terminal's title, or start
    or reorder a line."""
    if text.isprintable():
        return text
    return _CONTROL.sub(_escaped, text)


# -- records -----------------------------------------------------------

_LOGGERS: dict[str, logging.Logger] = {}
_THIS_FILE = __file__


def _route(name: str, level: int) -> tuple[bool, bool]:
    """Where a message of `level` for logger `name` goes: (whether it is
    handed to `logging` as a record, whether `_write` writes it).

    Records go to the handlers of the logger and of its parents (as far
    as `propagate` lets them: pytest's `caplog` sits on the root logger),
    if it is enabled for `level` (the logger "quick_server" is at INFO
    unless set otherwise; `DEBUG` enables DEBUG). The line is written,
    as ever, when no handler is configured, or when `set_log_file` gave a
    file: a test runner's capturing handlers (pytest's, but for its live
    log) are no configuration, so under pytest the lines stay as they
    are and caplog gets the records too. Without `logging` imported no
    handler can exist: nothing of it is loaded or asked then."""
    logging_ = sys.modules.get("logging")
    if logging_ is None:
        return False, level > _DEBUG or DEBUG
    logger = _LOGGERS.get(name)
    if logger is None:
        try:
            logger = _logger(logging_, name)
        except AttributeError:  # `logging` is being imported right now
            return False, level > _DEBUG or DEBUG
    if not (logger.isEnabledFor(level) or (DEBUG and level == _DEBUG)):
        return False, False
    heard = configured = False
    node: logging.Logger | None = logger
    while node is not None:
        for handler in node.handlers:
            heard = True
            configured = configured or not _captures(handler)
        if not node.propagate:
            break
        node = node.parent
    return heard, _LOG_FILE is not None or not configured


def _logger(logging_: Any, name: str) -> logging.Logger:
    """The logger `name`, made on its first message (not on import, so
    that a `dictConfig` run after importing quick_server does not disable
    it); "quick_server" gets level INFO unless it has one, as werkzeug's
    logger does: configured handlers get the messages without setting
    levels."""
    top = logging_.getLogger(SERVER_LOGGER)
    if top.level == logging_.NOTSET:
        top.setLevel(logging_.INFO)
    logger: logging.Logger = logging_.getLogger(name)
    _LOGGERS[name] = logger
    return logger


def _captures(handler: Any) -> bool:
    """Whether `handler` is a test runner's capture (pytest's report
    sections and `caplog`), not an output the user configured."""
    cls = type(handler)
    return cls.__module__ == "_pytest.logging" and \
        cls.__name__ != "_LiveLoggingStreamHandler"


def _hand_over(name: str, level: int, text: str,
               attributes: Mapping[str, Any] | None) -> None:
    """Hands the message `text` (escaped) to the logger `name`'s handlers
    as a record, its further lines indented (as `_write` does: no line of
    it passes for a record of its own in a plain log file), from where
    quick_server was called, with `attributes`."""
    logger = _LOGGERS[name]
    frame = sys._getframe(1)  # pylint: disable=protected-access
    while frame.f_code.co_filename == _THIS_FILE and \
            frame.f_back is not None:
        frame = frame.f_back
    if "\n" in text:
        text = text.replace("\n", "\n" + " " * MIN_INDENT)
    record = logger.makeRecord(
        name, level, frame.f_code.co_filename, frame.f_lineno, text, (),
        None, frame.f_code.co_name, attributes)
    logger.handle(record)


def debug(fun: Callable[[], Any]) -> None:
    """Logs `fun()` only when `quick_server.log.DEBUG` is set (or the
    logger "quick_server" is enabled for DEBUG), so costly messages are
    never built otherwise."""
    _say(SERVER_LOGGER, _DEBUG, "[DEBUG] {0}", (_Lazy(fun),), {})


class _Lazy:
    """`fun()` as a `str.format` argument, called only when formatted."""
    __slots__ = ("fun",)

    def __init__(self, fun: Callable[[], Any]) -> None:
        self.fun = fun

    def __format__(self, spec: str) -> str:
        return format(self.fun(), spec)


def log_exception(context: str) -> None:
    """Logs the exception being handled with its traceback (its message
    may hold a client's data: escaped as every message is), at level
    ERROR."""
    import traceback  # loaded on first use
    _say(SERVER_LOGGER, _ERROR, "{0}\n{1}", (
        context, traceback.format_exc().rstrip()), {})


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
