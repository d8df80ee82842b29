"""How many threads the numeric libraries of a job process may start.

Each job process of the `"process"` executor would otherwise start a
BLAS / OpenMP thread pool as wide as the machine, so `max_processes`
jobs run `max_processes * cores` threads on `cores` cores. A job process
therefore gets `cores // max_processes` (at least 1) in two ways:

* the environment variables these libraries read when they load
  (`OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS`, ...): enough when the job
  process imports numpy (or another such library) itself;
* the libraries' own setters, called through ctypes, for a library the
  process already holds: a script that imports numpy at module level has
  loaded and sized its BLAS before the job processes were forked, and an
  environment variable is read too late for it (Linux: the libraries are
  found in `/proc/self/maps`; elsewhere only the environment is set).

A variable the user set (present in `os.environ`) is left alone, and so
is the library it governs. Only job processes are changed: the server
keeps its environment."""
from __future__ import annotations

import ctypes
import os

# what each variable governs: (how the library's file name starts, setters)
_VARIABLES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "OMP_NUM_THREADS": (("libgomp", "libomp", "libiomp"),
                        ("omp_set_num_threads",)),
    "OPENBLAS_NUM_THREADS": (("libopenblas", "libscipy_openblas"), (
        "openblas_set_num_threads", "openblas_set_num_threads64_",
        "scipy_openblas_set_num_threads",
        "scipy_openblas_set_num_threads64_")),
    "MKL_NUM_THREADS": (("libmkl_rt",), ("MKL_Set_Num_Threads",)),
    "BLIS_NUM_THREADS": (("libblis",), ("bli_thread_set_num_threads",)),
    "VECLIB_MAXIMUM_THREADS": ((), ()),  # macOS Accelerate: read at load
    "NUMEXPR_NUM_THREADS": ((), ()),  # read when numexpr is imported
}
VARIABLES = tuple(_VARIABLES)


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the
    system tells it, else every core)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_process(processes: int) -> int:
    return max(1, cores() // max(1, processes))


def _loaded_libraries() -> list[str]:
    """The shared libraries this process has loaded (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8",
                  errors="replace") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps
                     if line.count(" ") >= 5 and ".so" in line}
    except (OSError, IndexError):
        return []
    return sorted(path for path in paths if path.startswith("/"))


def _call_setters(variables: list[str], threads: int) -> list[str]:
    """Calls the setter of each loaded library that `variables` govern;
    returns the setters called."""
    called = []
    for path in _loaded_libraries():
        name = os.path.basename(path).lower()
        for variable in variables:
            starts, setters = _VARIABLES[variable]
            if not starts or not name.startswith(starts):
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for setter in setters:
                fn = getattr(lib, setter, None)
                if fn is None:
                    continue
                fn.argtypes = [ctypes.c_int]
                fn.restype = None
                try:
                    fn(threads)
                except OSError:
                    continue
                called.append(f"{os.path.basename(path)}:{setter}")
                break
    return called


def cap(threads: int) -> list[str]:
    """Sets, in this (job) process, each variable the user did not set
    to `threads`, and calls the setters of the libraries they govern that
    are loaded already; returns the setters called."""
    mine = [name for name in VARIABLES if name not in os.environ]
    for name in mine:
        os.environ[name] = str(threads)
    return _call_setters(mine, threads)
