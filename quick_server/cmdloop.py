"""The command prompt on the terminal: built-in and user commands, tab
completion of command words and arguments, history across runs."""
from __future__ import annotations

import inspect
import os
import sys
import threading
from dataclasses import dataclass
from typing import Any, Callable

from . import log

CmdF = Callable[[list[str]], Any]
CmdCompleteF = Callable[[list[str], str], list[str]]


@dataclass
class Command:
    """A command: `words` typed to call `fn(args)`."""
    words: tuple[str, ...]
    fn: CmdF
    argc: int | None = None
    complete: CmdCompleteF | None = None

    @property
    def name(self) -> str:
        return " ".join(self.words)


class CommandLoop:
    """Reads lines from standard input and runs the commands they name."""

    def __init__(self) -> None:
        self.commands: dict[tuple[str, ...], Command] = {}
        self.history_file: str | None = None
        self.prompt = "> "
        self._readline: Any = None
        self._term_state: Any = None

    def add(self, fn: CmdF, argc: int | None = None,
            complete: CmdCompleteF | None = None,
            name: str | None = None) -> None:
        """Registers `fn`; `cache_clear` is typed as `cache clear`."""
        words = tuple(w for w in (name or fn.__name__).split("_") if w)
        self.commands[words] = Command(words, fn, argc, complete)

    def find(self, words: list[str]) -> tuple[Command, list[str]] | None:
        """The command with the longest name `words` start with."""
        for size in range(len(words), 0, -1):
            cmd = self.commands.get(tuple(words[:size]))
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
            close = sorted(c.name for c in self.commands.values()
                           if c.words[0].startswith(words[0][:2]))
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
        lines = ["available commands:"]
        for cmd in sorted(self.commands.values(), key=lambda c: c.name):
            doc = inspect.getdoc(cmd.fn) or ""
            first = doc.splitlines()[0] if doc else ""
            lines.append(f"  {cmd.name:<16} {first}".rstrip())
        return "\n".join(lines)

    # -- completion --------------------------------------------------------

    def completions(self, line: str, text: str) -> list[str]:
        """Candidates for the word `text` at the end of `line`: the next
        word of a command name, or what the command's `complete` offers."""
        before = tuple(line[:len(line) - len(text)].split())
        options = {c.words[len(before)] for c in self.commands.values()
                   if c.words[:len(before)] == before
                   and len(c.words) > len(before)
                   and c.words[len(before)].startswith(text)}
        found = self.find(list(before)) if before else None
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

    def start(self, is_running: Callable[[], bool]) -> threading.Thread:
        """Runs the loop on a daemon thread until EOF or `is_running()`
        turns false."""
        def loop() -> None:
            terminal = sys.stdin.isatty()
            if terminal:
                self._setup_readline()
            # messages keep the prompt visible when they share its terminal
            shared = terminal and _isatty(sys.stdout) and _isatty(sys.stderr)
            while is_running():
                log.set_prompt(self.prompt if shared else None)
                try:
                    line: str | None = input(self.prompt if terminal else "")
                except EOFError:
                    line = None
                except (OSError, ValueError):
                    return
                finally:
                    log.set_prompt(None)
                if line is None:
                    log.msg("no more commands (end of input); stop the "
                            "server with Ctrl-C or SIGTERM")
                    return
                if is_running():
                    self.execute(line)
        thread = threading.Thread(target=loop, name="command-loop",
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
