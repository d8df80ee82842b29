#!/usr/bin/env python3
"""A service for example.py: pulls the jobs of /api/shout over HTTP and
answers them. Run as many as you like, stop them, start them again:

    python example/shout_service.py [http://localhost:8000/services]

(or `python -m quick_server.service URL shout shout_service:shout --key
example-key` from this folder).
"""
import os
import socket
import sys
import time

from quick_server import report_progress
from quick_server.service import run_service


def shout(payload):
    """Upper-cases `payload["text"]`, slowly enough to watch."""
    report_progress(0, 1, f"shouting on {socket.gethostname()} "
                          f"(service process {os.getpid()})")
    time.sleep(float(payload.get("seconds", 0.5)))
    return {"text": str(payload.get("text", "")).upper() + "!"}


if __name__ == "__main__":
    URL = sys.argv[1] if len(sys.argv) > 1 else \
        "http://localhost:8000/services"
    # heartbeats and waits fit the server's service_timeout by themselves
    run_service(URL, "shout", shout,
                key=os.environ.get("SERVICE_KEY", "example-key"),
                description="upper-cases text")
