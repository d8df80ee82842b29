"""The source distribution: it carries the license, the docs, the whole
test suite with its runner, and the example."""
from __future__ import annotations

import os
import subprocess
import sys
import tarfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_sdist_has_tests_example_docs_and_license(tmp_path):
    subprocess.run([sys.executable, "setup.py", "-q", "sdist", "-d",
                    str(tmp_path)], cwd=ROOT, check=True, timeout=120,
                   capture_output=True)
    (archive,) = tmp_path.glob("quick_server-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames()
                 if "/" in name}
    for needed in ("LICENSE", "README.rst", "docs/conf.py",
                   "docs/protocol.rst", "docs/index.rst", "setup.py",
                   "test/conftest.py", "test/run.sh", "test/test_http.py",
                   "example/example.py", "example/www/index.html",
                   "quick_server/worker.js", "quick_server/favicon.ico",
                   "quick_server/py.typed", "quick_server/demo/index.html"):
        assert needed in names, needed
    assert not any("__pycache__" in name for name in names)
