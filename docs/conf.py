"""Sphinx configuration of quick_server's documentation.

Build it with ``python -m sphinx -W -b html docs docs/_build`` (the test
suite does, warnings as errors: a broken reference fails)."""
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

with open(os.path.join(ROOT, "quick_server", "__init__.py"),
          encoding="utf-8") as handle:
    release = re.search(r'__version__ = "([^"]+)"', handle.read()).group(1)


def write_if_changed(path: str, text: str) -> None:
    """Writes `text` to `path` unless it holds it already (a build that
    changes nothing rebuilds nothing); atomically, for parallel builds."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == text:
                return
    except OSError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = f"{path}.{os.getpid()}"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(temporary, path)


# settings.rst includes the table of every server setting, made here from
# the settings themselves (quick_server/settings.py): it cannot drift
from quick_server.settings import settings_table_rst  # noqa: E402

write_if_changed(os.path.join(ROOT, "docs", "_generated", "settings.rst"),
                 settings_table_rst())

project = "quick_server"
author = "quick_server's authors"
copyright = "quick_server's authors, MIT License"
version = release
extensions = ["sphinx.ext.autodoc"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# the annotations name the standard library's and the package's own
# types; without network access there is no inventory to link them to
autodoc_type_aliases: dict[str, str] = {}
exclude_patterns = ["_build", "_generated"]  # _generated: included
html_theme = "alabaster"
html_static_path: list[str] = []
root_doc = "index"
