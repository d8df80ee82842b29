"""Job processes of the "process" executor cap the threads of numeric
libraries to cores / max_processes (issue 25): the environment variables
unless the user set them, and an OpenBLAS loaded before the fork through
its own setter. Each case runs in a fresh Python process (a pool forks)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from quick_server.jobs import thread_caps

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

POOL_SCRIPT = """
import json, os, sys, threading
sys.path.insert(0, sys.argv[1])
IMPORT_NUMPY
from quick_server.jobs.processes import ProcessPool
from quick_server.jobs.thread_caps import VARIABLES

def blas_threads():
    try:
        import numpy  # (already loaded when the script imported it)
    except ImportError:
        return None
    import ctypes
    for line in open("/proc/self/maps"):
        path = line.split()[-1]
        if "openblas" in path and path.startswith("/"):
            lib = ctypes.CDLL(path)
            for name in ("scipy_openblas_get_num_threads64_",
                         "scipy_openblas_get_num_threads",
                         "openblas_get_num_threads64_",
                         "openblas_get_num_threads"):
                fn = getattr(lib, name, None)
                if fn is not None:
                    return fn()
    return None

def job():
    return {"env": {name: os.environ.get(name) for name in VARIABLES},
            "blas": blas_threads()}

pool = ProcessPool(int(sys.argv[2]))
pool.start()
done = threading.Event()
result = {}
pool.run(job, (), lambda p: None,
         lambda outcome: (result.update(job=outcome[1]), done.set()))
done.wait(20)
pool.close()
result["server"] = job()
print(json.dumps(result))
"""


def run_pool(tmp_path, size, env=None, numpy=False):
    script = tmp_path / "pool.py"
    script.write_text(POOL_SCRIPT.replace(
        "IMPORT_NUMPY", "import numpy" if numpy else ""))
    clean = {k: v for k, v in os.environ.items()
             if k not in thread_caps.VARIABLES}
    out = subprocess.run([sys.executable, str(script), ROOT, str(size)],
                         capture_output=True, text=True, timeout=60,
                         env={**clean, **(env or {})})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_threads_per_process_is_a_share_of_the_cores():
    cores = thread_caps.cores()
    assert thread_caps.threads_per_process(1) == cores
    assert thread_caps.threads_per_process(cores) == 1
    assert thread_caps.threads_per_process(cores * 4) == 1  # at least 1
    assert thread_caps.threads_per_process(0) == cores


def test_a_job_process_sees_capped_variables_the_server_keeps_its_own(
        tmp_path):
    result = run_pool(tmp_path, 1)
    share = str(thread_caps.cores())  # one process: every core
    assert result["job"]["env"] == {name: share
                                    for name in thread_caps.VARIABLES}
    assert set(result["server"]["env"].values()) == {None}
    result = run_pool(tmp_path, thread_caps.cores() * 2)
    assert set(result["job"]["env"].values()) == {"1"}


def test_a_variable_the_user_set_is_kept(tmp_path):
    result = run_pool(tmp_path, 64, env={"OPENBLAS_NUM_THREADS": "3",
                                         "OMP_NUM_THREADS": "5"})
    env = result["job"]["env"]
    assert env.pop("OPENBLAS_NUM_THREADS") == "3"
    assert env.pop("OMP_NUM_THREADS") == "5"
    assert set(env.values()) == {"1"}
    assert result["server"]["env"]["OPENBLAS_NUM_THREADS"] == "3"


def test_numpy_imported_before_the_fork_is_capped_in_job_processes(
        tmp_path):
    pytest.importorskip("numpy")
    size = thread_caps.cores()  # one thread each
    result = run_pool(tmp_path, size, numpy=True)
    if result["server"]["blas"] is None:
        pytest.skip("numpy is not built on OpenBLAS here")
    assert result["job"]["blas"] == 1
    assert result["server"]["blas"] == thread_caps.cores()  # untouched
    # a user's variable is kept, and so is the pool sized by it
    result = run_pool(tmp_path, size, env={"OPENBLAS_NUM_THREADS": "2"},
                      numpy=True)
    assert result["job"]["blas"] == result["server"]["blas"] == 2
