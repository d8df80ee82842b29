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


# docs/settings.rst holds the table of every server setting, made from the
# settings themselves (quick_server/settings.py), between two comments:
# kept in the page so that it also reads on a code host (which renders no
# include). A stale table fails the build; `python docs/conf.py` writes
# the current one.
from quick_server.settings import settings_table_rst  # noqa: E402

TABLE_START = (".. the table of every setting below is made from "
               "quick_server/settings.py\n   (settings_table_rst) by "
               "docs/conf.py; the tests check that it is current\n")
TABLE_END = ".. end of the table of every setting\n"


def with_settings_table(page: str) -> str:
    """`page` with the current table between its two comments."""
    head, rest = page.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return (head + TABLE_START + "\n" + settings_table_rst().rstrip("\n")
            + "\n\n" + TABLE_END + tail)


SETTINGS_PAGE = os.path.join(ROOT, "docs", "settings.rst")


def settings_page_is_current(write: bool = False) -> bool:
    """Whether docs/settings.rst has the current table (with `write`,
    it has it afterwards)."""
    with open(SETTINGS_PAGE, encoding="utf-8") as handle:
        page = handle.read()
    fresh = with_settings_table(page)
    if fresh != page and write:
        with open(SETTINGS_PAGE, "w", encoding="utf-8") as handle:
            handle.write(fresh)
    return fresh == page


if __name__ == "__main__":
    settings_page_is_current(write=True)
    sys.exit(0)
if not settings_page_is_current():
    raise RuntimeError("docs/settings.rst: the table of settings is not "
                       "the one quick_server/settings.py makes; run "
                       "`python docs/conf.py` to write it")

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
exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path: list[str] = []
root_doc = "index"
