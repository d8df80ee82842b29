"""The user's cache folder, where the server keeps what it can make
again: the development certificate, the default job store, the gzip
forms of big static files. A leaf: any module may import it."""
from __future__ import annotations

import os
import sys


def cache_folder() -> str:
    """`$XDG_CACHE_HOME/quick_server` (`~/.cache/quick_server`),
    `~/Library/Caches/quick_server` on macOS, `%LOCALAPPDATA%\\quick_server`
    on Windows."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser("~")
    elif sys.platform == "darwin":
        base = os.path.expanduser("~/Library/Caches")
    else:
        base = os.environ.get("XDG_CACHE_HOME") or \
            os.path.expanduser("~/.cache")
    return os.path.join(base, "quick_server")
