"""What a job process knows of the script's functions and classes.

A job process is forked from the template process, so it holds the
`__main__` module as it was when the template was forked. A notebook goes
on defining: a `"process"` job function redefined in a later cell (or a
helper it calls, or a class of its arguments) would run in its old form,
or not be found at all. `Definitions` remembers which function and class
each public name of `__main__` held at the fork; when that changed, the
process pool forks a new template (`ProcessPool.renew`) before the next
job, so the job runs the code the notebook shows now.

Only functions and classes count: data is best passed as the job's
arguments (a name bound again on every loop iteration would otherwise
fork a template for every job)."""
from __future__ import annotations

import sys
from types import FunctionType
from typing import Any


def _current() -> dict[str, Any]:
    """The functions and classes `__main__`'s public names hold now."""
    main = sys.modules.get("__main__")
    if main is None:
        return {}
    return {name: value for name, value in list(vars(main).items())
            if not name.startswith("_")
            and isinstance(value, (FunctionType, type))}


class Definitions:
    """`__main__`'s functions and classes at one moment (a fork)."""

    def __init__(self) -> None:
        # (the objects themselves are kept, so that an identity compares
        # true only for the very same object, never a new one at its id)
        self._known = _current()

    def changed(self) -> bool:
        """Whether a name holds another function or class than it did, or
        a new one was defined."""
        current = _current()
        if len(current) != len(self._known):
            return True
        known = self._known
        return any(known.get(name) is not value
                   for name, value in current.items())
