"""The server's threads are top-level threads for ipykernel (threads.py):
ipykernel marks each thread with the ident of the thread that made it and
follows those marks on every write of the thread; idents are reused, so
threads that start threads and end could close a loop that hangs the
kernel (test_kernel.py runs the real thing)."""
from __future__ import annotations

import os
import threading

from quick_server.threads import make_thread

PACKAGE = os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "quick_server")


def test_a_thread_made_by_a_thread_is_marked_as_the_main_threads(
        monkeypatch):
    real_init = threading.Thread.__init__

    def marking_init(self, *args, **kwargs):  # what ipykernel does
        real_init(self, *args, **kwargs)
        self._ipykernel_parent_thread_ident = threading.get_ident()
    monkeypatch.setattr(threading.Thread, "__init__", marking_init)
    made = []
    maker = threading.Thread(target=lambda: made.append(
        make_thread(target=lambda: None, name="made")))
    maker.start()
    maker.join()
    assert maker._ipykernel_parent_thread_ident == threading.get_ident()
    assert made[0]._ipykernel_parent_thread_ident == \
        threading.main_thread().ident
    assert made[0].daemon and made[0].name == "made"


def test_outside_a_kernel_a_thread_is_a_plain_thread():
    thread = make_thread(target=lambda: None)
    assert not hasattr(thread, "_ipykernel_parent_thread_ident")


def test_the_package_starts_its_threads_through_make_thread():
    direct = []
    for folder, _, names in os.walk(PACKAGE):
        for name in names:
            path = os.path.join(folder, name)
            if name.endswith(".py") and name != "threads.py":
                with open(path, encoding="utf-8") as source:
                    if "threading.Thread(" in source.read():
                        direct.append(os.path.relpath(path, PACKAGE))
    assert direct == []
