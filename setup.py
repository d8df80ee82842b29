"""Packaging of quick_server (standard library only at run time)."""
import re

from setuptools import setup

with open("quick_server/__init__.py", encoding="utf-8") as handle:
    VERSION = re.search(r'__version__ = "([^"]+)"', handle.read()).group(1)

with open("README.rst", encoding="utf-8") as handle:
    README = handle.read()

setup(
    name="quick_server",
    version=VERSION,
    description="A quick to set up development server for Python back ends",
    long_description=README,
    long_description_content_type="text/x-rst",
    license="MIT",
    packages=["quick_server", "quick_server.http", "quick_server.jobs",
              "quick_server.rpc", "quick_server.dev",
              "quick_server.monitor", "quick_server.jsclient",
              "quick_server.codegen"],
    package_data={"quick_server": ["py.typed", "worker.js", "worker.mjs",
                                   "worker-core.js", "worker-class.js",
                                   "worker.d.ts", "worker-core.d.ts",
                                   "api-client.js", "api-client.d.ts",
                                   "hub.js", "live-reload.js", "favicon.ico",
                                   "demo/*", "monitor/dashboard.html"]},
    python_requires=">=3.10",
    install_requires=[],
    extras_require={
        "cache": ["quick-cache>=0.3"],
        "dask": ["distributed>=2024.1"],
        "test": ["pytest>=7", "pytest-timeout>=2", "playwright>=1.40",
                 "quick-cache>=0.3", "mypy>=1.8", "distributed>=2024.1",
                 # the sdist test builds with setup.py (Python 3.12 venvs
                 # come without setuptools)
                 "setuptools>=61",
                 # the docs/ site is built by the suite (warnings as errors)
                 "sphinx>=7",
                 # /metrics is read with Prometheus' own parser
                 "prometheus_client>=0.17",
                 # data-science values answer as JSON (test_ds_values), and
                 # job processes cap numpy's BLAS threads (test_job_threads)
                 "numpy>=1.24", "pandas>=2",
                 # a route's Figure answers as PNG or SVG (test_rich_answers)
                 "matplotlib>=3.6",
                 # the OpenAPI document is checked by the validator, and
                 # real answers against its schemas (JSON Schema 2020-12)
                 "openapi-spec-validator>=0.7", "jsonschema>=4.18",
                 # a notebook's cells run in a real kernel (test_kernel)
                 "jupyter_client>=8",
                 # 6.x on 3.10: 7.0-7.3 may strand a shell request
                 # (ipython/ipykernel#1554), fixed in 7.4 (3.11+)
                 "ipykernel>=6,<7; python_version < \"3.11\"",
                 "ipykernel>=7.4; python_version >= \"3.11\""],
    },
    classifiers=[
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Programming Language :: Python :: 3.13",
        "License :: OSI Approved :: MIT License",
    ],
)
