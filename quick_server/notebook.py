"""Serving from a Jupyter notebook: `in_kernel()`, the one test of whether
this process is an IPython kernel, which the features that would harm a
kernel ask (restarting the process, SIGTERM, the command prompt on
standard input, a request line in whichever cell runs)."""
from __future__ import annotations

import sys

# `Setting` defaults name it so (docs/settings.rst shows the expression)
IN_KERNEL = '"ipykernel" in sys.modules'
# why restarting is off in a kernel, in the line that says it is
NO_RESTART = "restarting would start the kernel anew; re-run the cells instead"


def in_kernel() -> bool:
    """Whether this process runs in a Jupyter kernel (ipykernel is
    loaded): the process is the kernel, its standard input is not a
    terminal, and its output goes to the cell that runs."""
    return "ipykernel" in sys.modules
