"""A self-signed certificate for HTTPS on localhost, made once with the
`openssl` command and kept in the user's cache folder
(`create_server(..., certfile="auto")`, `python -m quick_server --https`).

The certificate names localhost, 127.0.0.1 and ::1, is valid for a year
and is made again when it expires within a month. Browsers warn about it
once (it is signed by nobody they trust). One (or a folder) that another
user owns, or that group or others may read or write, is refused."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile

from .. import log
from ..cache_dir import cache_folder

FILE_NAME = "localhost.pem"  # the certificate and its key, one file
DAYS = 365
RENEW_BEFORE = 30 * 24 * 3600  # seconds before expiry a new one is made
SUBJECT_NAMES = "DNS:localhost,IP:127.0.0.1,IP:::1"


class DevCertError(RuntimeError):
    """No development certificate could be made (no `openssl` command,
    or it failed), or the one found is not private to this user; the
    message says what to do."""


def dev_certificate(folder: str | None = None) -> str:
    """The path of a PEM file with a certificate for localhost and its
    key: the one kept in `folder` (default: `cache_folder()`) while it is
    valid for another month, else a new one. DevCertError when `openssl`
    is missing or fails."""
    folder = folder or cache_folder()
    path = os.path.join(folder, FILE_NAME)
    openssl = shutil.which("openssl")
    _check_private(folder, "folder", 0o700)
    _check_private(path, "certificate", 0o600)
    if os.path.exists(path) and (openssl is None or _valid(openssl, path)):
        return path
    if openssl is None:
        raise DevCertError(
            "HTTPS needs a certificate, and making one for localhost needs "
            "the openssl command, which is not installed (Debian/Ubuntu: "
            "apt install openssl; macOS: brew install openssl); or give "
            "your own with certfile=... (see README: HTTPS)")
    _make(openssl, folder, path)
    log.msg("made a self-signed certificate for localhost: {0} (browsers "
            "warn about it once)", path)
    return path


def _check_private(path: str, what: str, mode: int) -> None:
    """Refuses (DevCertError) an existing `path` that another user owns or
    that group or others may read or write: whoever can read the key can
    impersonate the server, whoever can write it can swap it."""
    if not hasattr(os, "geteuid"):  # Windows: no POSIX owner and mode
        return
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return
    user = os.geteuid()
    bits = stat.S_IMODE(found.st_mode)
    if found.st_uid == user and not bits & 0o066:
        return
    fix = f"chmod {mode:o} {path}, or " if found.st_uid == user else ""
    raise DevCertError(
        f"refusing the development {what} {path}: it is owned by uid "
        f"{found.st_uid} with mode {bits:o}; expected: owned by you (uid "
        f"{user}), mode {mode:o} (no access for group or others). "
        f"Fix it ({fix}delete it to have a new one made)")


def _valid(openssl: str, path: str) -> bool:
    """Whether the certificate at `path` is valid for another month."""
    done = subprocess.run([openssl, "x509", "-checkend", str(RENEW_BEFORE),
                           "-noout", "-in", path], capture_output=True,
                          check=False)
    return done.returncode == 0


def _make(openssl: str, folder: str, path: str) -> None:
    os.makedirs(folder, mode=0o700, exist_ok=True)
    # made next to its place and renamed: a server starting at the same
    # time never reads half a file
    handle, temp = tempfile.mkstemp(dir=folder, suffix=".pem")
    os.close(handle)
    try:
        done = subprocess.run(
            [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-sha256", "-days", str(DAYS), "-subj", "/CN=localhost",
             "-addext", f"subjectAltName={SUBJECT_NAMES}",
             "-keyout", temp, "-out", temp],
            capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise DevCertError("openssl could not make a certificate for "
                               f"localhost: {done.stderr.strip()}")
        os.chmod(temp, 0o600)  # it holds the private key
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
