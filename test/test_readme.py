"""README.rst is the user's contract: every name its Python examples import
from quick_server and every attribute they use on `server` exists."""
from __future__ import annotations

import ast
import os
import re

import quick_server

README = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "README.rst")


def python_blocks() -> list[str]:
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    blocks = re.findall(r"^\.\. code:: python\n\n((?:    .*\n|\n)+)", text,
                        re.MULTILINE)
    return ["\n".join(line[4:] for line in block.splitlines())
            for block in blocks]


def test_readme_examples_match_the_api(make_server):
    blocks = python_blocks()
    assert len(blocks) >= 10
    imported, used = set(), set()
    for block in blocks:
        tree = ast.parse(block)  # every example is valid Python
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and \
                    node.module == "quick_server":
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.Attribute) and \
                    isinstance(node.value, ast.Name) and \
                    node.value.id == "server":
                used.add(node.attr)
    assert {"create_server", "msg", "setup_restart"} <= imported
    assert {"json_post", "json_worker", "cmd", "bind_proxy"} <= used
    missing = [name for name in imported
               if not hasattr(quick_server, name)]
    assert not missing
    server = make_server(start=False)
    missing = [name for name in used if not hasattr(server, name)]
    assert not missing
