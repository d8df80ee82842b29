"""The command prompt on the terminal: built-in and user commands, tab
completion of command words and arguments, history across runs."""
from __future__ import annotations

import os
import re
import select
import sys
import threading
from typing import Any, Callable, NamedTuple

from .. import log
from ..notebook import in_kernel
from ..settings import Settings
from ..threads import make_thread

CmdF = Callable[[list[str]], Any]
CmdCompleteF = Callable[[list[str], str], list[str]]

MAX_LINE = 64 * 1024  # bytes of one command line read from a pipe


def name_words(words: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The words of a command name typed as `words`: underscores separate
    words too, so `cache_clear` and `cache clear` name the same command."""
    return tuple(part for word in words for part in word.split("_") if part)


# a full stop, except after "e.g", "i.e", "cf" and "vs"
SENTENCE_END = re.compile(
    r"(?<!\be\.g)(?<!\bi\.e)(?<!\bcf)(?<!\bvs)[.!?](?=\s|$)", re.I)


def first_sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line
    (a docstring wraps its lines mid-sentence)."""
    paragraph = " ".join(doc.strip().split("\n\n", 1)[0].split())
    end = SENTENCE_END.search(paragraph)
    return paragraph[:end.end()] if end else paragraph


class Command(NamedTuple):
    """A command: `words` typed to call `fn(args)`."""
    words: tuple[str, ...]
    fn: CmdF
    argc: int | None = None
    complete: CmdCompleteF | None = None

    @property
    def name(self) -> str:
        """The name as registered: the words joined by underscores."""
        return "_".join(self.words)

    @property
    def label(self) -> str:
        """The name and, for several words, the spaced alias."""
        if len(self.words) == 1:
            return self.name
        return f"{self.name}, {' '.join(self.words)}"


class FdLines:
    """Lines read straight from a file descriptor. Unlike `sys.stdin`, no
    buffered-IO lock is held while waiting, so the interpreter can finish
    while a daemon thread still waits here for input."""

    def __init__(self, fd: int, encoding: str | None = None) -> None:
        self.fd = fd
        self.encoding = encoding or "utf-8"
        self._pending = b""
        self._eof = False

    def readline(self) -> str | None:
        """The next line without its end (at most `MAX_LINE` bytes, a
        longer one is split); `None` at the end of input."""
        while b"\n" not in self._pending and not self._eof \
                and len(self._pending) < MAX_LINE:
            chunk = self._read()
            self._eof = not chunk
            self._pending += chunk
        if not self._pending:
            return None
        end = self._pending.find(b"\n", 0, MAX_LINE)
        if end < 0:
            end = min(len(self._pending), MAX_LINE)
            line, self._pending = self._pending[:end], self._pending[end:]
        else:
            line, self._pending = self._pending[:end], \
                self._pending[end + 1:]
        return line.decode(self.encoding, "replace").rstrip("\r")

    def _read(self) -> bytes:
        while True:
            # waiting in select, not read: a process that restarted but
            # goes on (its stdin now /dev/null) takes no line of the next
            select.select([self.fd], [], [])
            try:
                return os.read(self.fd, 4096)
            except BlockingIOError:  # a non-blocking pipe: wait again
                continue


class CommandLoop:
    """Reads lines from standard input and runs the commands they name,
    with the prompt and the history file of `settings.dev`."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = Settings() if settings is None else settings
        self.commands: dict[tuple[str, ...], Command] = {}
        self._readline: Any = None
        self._term_state: Any = None

    @property
    def prompt(self) -> str:
        return self.settings.dev.prompt

    @property
    def history_file(self) -> Any:
        return self.settings.dev.history_file

    def add(self, fn: CmdF, argc: int | None = None,
            complete: CmdCompleteF | None = None,
            name: str | None = None) -> None:
        """Registers `fn` under its name (or `name`); `cache_clear` is typed
        as `cache_clear` or as `cache clear`."""
        words = name_words((name or fn.__name__).split())
        self.commands[words] = Command(words, fn, argc, complete)

    def find(self, words: list[str]) -> tuple[Command, list[str]] | None:
        """The command with the longest name `words` start with, and the
        remaining words (its arguments, kept as typed)."""
        for size in range(len(words), 0, -1):
            cmd = self.commands.get(name_words(words[:size]))
            if cmd is not None:
                return cmd, words[size:]
        return None

    def execute(self, line: str) -> None:
        """Runs one input line; errors are printed, never raised."""
        words = line.split("#", 1)[0].split()
        if not words:
            return
        found = self.find(words)
        if found is None:
            first = name_words(words[:1])[:1] or ("",)
            close = sorted(c.name for c in self.commands.values()
                           if c.words[0].startswith(first[0][:2]))
            hint = f"; did you mean: {', '.join(close)}" if close else ""
            log.msg("unknown command '{0}'{1} (type 'help' for a list)",
                    " ".join(words), hint)
            return
        cmd, args = found
        if cmd.argc is not None and len(args) != cmd.argc:
            log.msg("'{0}' takes {1} argument{2}, got {3}", cmd.name,
                    cmd.argc, "" if cmd.argc == 1 else "s", len(args))
            return
        try:
            cmd.fn(args)
        except Exception:  # pylint: disable=broad-except
            log.log_exception(f"error in command '{cmd.name}':")

    def help_text(self) -> str:
        """Every command with the first sentence of its docstring."""
        cmds = sorted(self.commands.values(), key=lambda c: c.name)
        width = max((len(c.label) for c in cmds), default=0)
        lines = ["available commands:"]
        for cmd in cmds:
            import inspect  # loaded on first use
            summary = first_sentence(inspect.getdoc(cmd.fn) or "")
            lines.append(f"  {cmd.label:<{width}}  {summary}".rstrip())
        return "\n".join(lines)

    # -- completion --------------------------------------------------------

    def completions(self, line: str, text: str) -> list[str]:
        """Candidates for the word `text` at the end of `line`: the next
        word of a command name (the rest of the name joined by underscores
        when `text` has one), or what the command's `complete` offers."""
        typed = line[:len(line) - len(text)].split()
        before = name_words(typed)
        options = set()
        for cmd in self.commands.values():
            if cmd.words[:len(before)] != before or \
                    len(cmd.words) <= len(before):
                continue
            rest = cmd.words[len(before):]
            word = "_".join(rest) if "_" in text else rest[0]
            if word.startswith(text):
                options.add(word)
        found = self.find(typed) if typed else None
        if found is not None and found[0].complete is not None:
            try:
                options.update(found[0].complete(found[1], text))
            except Exception:  # pylint: disable=broad-except
                pass
        return sorted(options)

    def _complete(self, text: str, state: int) -> str | None:
        try:
            line = self._readline.get_line_buffer()[
                :self._readline.get_endidx()]
            options = self.completions(line, text)
        except Exception:  # pylint: disable=broad-except
            return None
        if state < len(options):
            return options[state] + (" " if len(options) == 1 else "")
        return None

    # -- the loop ----------------------------------------------------------

    def _setup_readline(self) -> None:
        try:
            import readline  # pylint: disable=import-outside-toplevel
        except ImportError:
            return
        self._readline = readline
        readline.set_completer(self._complete)
        readline.set_completer_delims(" \t")
        doc = getattr(readline, "__doc__", "") or ""
        readline.parse_and_bind("bind ^I rl_complete" if "libedit" in doc
                                else "tab: complete")
        if self.history_file and os.path.exists(self.history_file):
            try:
                readline.read_history_file(self.history_file)
            except OSError:
                pass
        try:
            import termios  # pylint: disable=import-outside-toplevel
            self._term_state = termios.tcgetattr(sys.stdin.fileno())
        except Exception:  # pylint: disable=broad-except
            self._term_state = None

    def save_history(self) -> None:
        """Writes the history file and gives the terminal back."""
        if self._readline is not None and self.history_file:
            try:
                self._readline.write_history_file(self.history_file)
            except OSError as err:
                log.msg("could not write history {0}: {1}",
                        self.history_file, err)
        if self._term_state is not None:
            try:
                import termios  # pylint: disable=import-outside-toplevel
                termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN,
                                  self._term_state)
            except Exception:  # pylint: disable=broad-except
                pass

    def prompt_line(self) -> str:
        """The prompt and what is typed after it so far, to draw again
        after a message cleared the prompt's line."""
        typed = ""
        if self._readline is not None:
            try:
                typed = self._readline.get_line_buffer()
            except Exception:  # pylint: disable=broad-except
                typed = ""
        return self.prompt + typed

    def _line_reader(self) -> tuple[Callable[[], str | None], bool]:
        """How to read a command line, and whether a prompt is shown.
        `input()` only where it uses the terminal's line editor (stdin and
        stdout terminals); else lines come straight from stdin's file
        descriptor, because `input()` would wait holding `sys.stdin`'s
        buffer lock, which kills the interpreter at exit."""
        if _isatty(sys.stdin) and _isatty(sys.stdout):
            self._setup_readline()

            def ask() -> str | None:
                try:
                    return input(self.prompt)
                except EOFError:
                    return None
            return ask, True
        lines = FdLines(sys.stdin.fileno(),
                        getattr(sys.stdin, "encoding", None))
        return lines.readline, False

    def start(self, is_running: Callable[[], bool]) -> threading.Thread:
        """Runs the loop on a daemon thread until EOF or `is_running()`
        turns false."""
        def loop() -> None:
            try:
                read, prompted = self._line_reader()
            except (OSError, ValueError):
                return
            # messages keep the prompt visible when they share its terminal
            shared = prompted and _isatty(sys.stderr)
            while is_running():
                log.set_prompt(self.prompt_line if shared else None)
                try:
                    line = read()
                except (OSError, ValueError):
                    return
                finally:
                    log.set_prompt(None)
                if line is None:
                    if not is_running():
                        return  # (a restart took standard input away)
                    log.msg("no more commands (end of input); stop the "
                            "server with {0}", "server.stop()" if in_kernel()
                            else "Ctrl-C or SIGTERM")
                    return
                if is_running():
                    self.execute(line)
        thread = make_thread(target=loop, name="command-loop",
                             daemon=True)
        thread.start()
        return thread


def _isatty(stream: Any) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (OSError, ValueError):
        return False


def usable_stdin() -> bool:
    """Whether standard input can be read for commands at all."""
    try:
        return sys.stdin is not None and not sys.stdin.closed and \
            sys.stdin.fileno() >= 0
    except (OSError, ValueError):
        return False
