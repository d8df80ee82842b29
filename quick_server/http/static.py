"""Static files: what a GET of a path serves, from bound folders, white-
and black-lists, safe path translation and directory listings. (How a
found file is answered: `file_headers`, `ranges`, `small_files`,
`gzip_cache`.)

Safety rule: a request path is decoded once; NUL, backslashes and dot
segments are refused; the candidate is walked segment by segment from its
bound folder, and a symlink on the way must resolve inside that folder
(`realpath`, `commonpath`), so neither encoding tricks nor symlinks can
leave it. Hidden files (a segment starting with ".") and files
not allowed by the pattern lists are never served.

Pattern rule: a file's patterns are matched, case-insensitively, against
its path under the bound folder with a leading "/" (from the decoded
segments, so "//" or percent-encoding change nothing), its real absolute
path, and its base name (a folder's forms end with "/"). A black-listed
match refuses the file; with a white-list, a file must match it."""
from __future__ import annotations

import fnmatch
import os
import re
import stat
from typing import TYPE_CHECKING, NamedTuple
from urllib.parse import quote, unquote

from .file_headers import FileTarget
from .gzip_cache import GzipCache
from .responses import HTTPError
from .small_files import SmallFiles

if TYPE_CHECKING:  # the settings are the server's, handed over
    from ..settings import StaticSettings

DEFAULT_WHITE_LIST = [
    "*.css", "*.csv", "*.eot", "*.gif", "*.htm", "*.html", "*.ico",
    "*.jpeg", "*.jpg", "*.js", "*.json", "*.map", "*.md", "*.mjs", "*.otf",
    "*.pdf", "*.png", "*.svg", "*.tsv", "*.ttf", "*.txt", "*.wasm",
    "*.webp", "*.woff", "*.woff2",
]
INDEX_FILES = ("index.html", "index.htm")


class Redirect(NamedTuple):
    """A folder asked for without its trailing slash."""
    location: str


class Listing(NamedTuple):
    """A folder without an index file, when listings are on: its real
    path, the URL asked for, the real bound folder it is in and its path
    under that folder (leading and trailing "/")."""
    folder: str
    url_path: str
    root: str
    under: str


class PatternList:
    """fnmatch patterns compiled into one case-insensitive regex."""

    def __init__(self) -> None:
        self.patterns: list[str] = []
        self._regex: re.Pattern[str] | None = None

    def add(self, patterns: list[str]) -> None:
        self.patterns.extend(patterns)
        self._regex = re.compile(
            "|".join(fnmatch.translate(p.lower()) for p in self.patterns))

    def matches(self, forms: tuple[str, ...]) -> bool:
        """Whether a pattern matches one of the lower-cased `forms`
        (see `match_forms`)."""
        if self._regex is None:
            return False
        match = self._regex.match
        for form in forms:
            if match(form):
                return True
        return False


def match_forms(under: str, real: str, root: str) -> tuple[str, ...]:
    """The lower-cased strings a file's (or a folder's, all ending with
    "/") patterns are matched against: its path `under` the bound folder
    `root` (leading "/"), its `real` path and its base name; when a
    symlink made the real path differ, its real path under `root` and
    real base name too."""
    real_under = real[len(root.rstrip("/")):] or "/"
    under_low, real_low = under.lower(), real.lower()
    if real_under == under:
        return under_low, real_low, _base_name(under_low)
    real_under_low = real_under.lower()
    return (under_low, real_low, real_under_low, _base_name(under_low),
            _base_name(real_under_low))


def _base_name(path: str) -> str:
    # a folder's base name keeps its trailing "/"
    return path[path.rfind("/", 0, len(path) - 1) + 1:]


def decode_path(raw_path: str) -> list[str]:
    """Request path -> its segments, decoded once. Refuses what could
    step outside a folder whatever the encoding (400)."""
    try:
        path = unquote(raw_path, errors="strict")
    except UnicodeDecodeError:
        raise HTTPError(400, "Path is not UTF-8") from None
    if not path.startswith("/") or "\0" in path or "\\" in path:
        raise HTTPError(400, "Bad path")
    segments = path.split("/")[1:]
    if any(seg in (".", "..") for seg in segments):
        raise HTTPError(400, "Bad path")
    return segments


class StaticFiles:
    """The folders bound to URL prefixes and the rules for serving them;
    `settings` (the server's `settings.static`) says where relative paths
    start, whether folders are listed and which file is the favicon."""

    def __init__(self, settings: StaticSettings) -> None:
        self.settings = settings
        self.bindings: list[tuple[str, str]] = []
        self.white = PatternList()
        self.black = PatternList()
        self.small_files = SmallFiles()
        self.gzip_cache = GzipCache()  # its folder goes when serving stops

    def bind(self, prefix: str, folder: str, *,
             fallback: bool = False) -> None:
        """Serves `folder` (relative to `base_path`) under `prefix`."""
        if not prefix.startswith("/") or not prefix.endswith("/"):
            raise ValueError(f"prefix must start and end with '/': {prefix}")
        real = os.path.realpath(os.path.join(self.settings.base_path, folder))
        if fallback:
            self.bindings.append((prefix, real))
        else:
            self.bindings.insert(0, (prefix, real))

    def allowed(self, under: str, real: str, root: str) -> bool:
        """Whether the pattern lists let the file at `real`, `under` the
        bound folder `root`, be served (see `match_forms`)."""
        black, white = self.black, self.white
        if not black.patterns and (
                not white.patterns or white.matches((under.lower(),))):
            return True  # the common case, without building every form
        forms = match_forms(under, real, root)
        if black.matches(forms):
            return False
        return not white.patterns or white.matches(forms)

    def black_listed(self, under: str, real: str, root: str) -> bool:
        """Whether the black-list refuses the file or folder at `real`
        (a folder's `under` ends with "/")."""
        if not self.black.patterns:
            return False
        if under.endswith("/") and not real.endswith("/"):
            real += "/"
        return self.black.matches(match_forms(under, real, root))

    def resolve(self, raw_path: str, query: str = ""
                ) -> FileTarget | Redirect | Listing | None:
        """What a GET of `raw_path` serves; `None` when nothing does."""
        segments = decode_path(raw_path)
        is_folder = segments[-1] == ""
        parts = [seg for seg in segments if seg]
        if any(seg.startswith(".") for seg in parts):
            return None
        path = "/" + "/".join(parts) + ("/" if is_folder and parts else "")
        for prefix, folder in self.bindings:
            if path + "/" == prefix:
                return Redirect(_relative_folder(parts, query))
            if not path.startswith(prefix):
                continue
            rel_parts = [seg for seg in path[len(prefix):].split("/") if seg]
            found = inside(folder, rel_parts)
            if found is None:
                continue
            real, st = found
            under = "/" + "/".join(rel_parts)
            if stat.S_ISDIR(st.st_mode):
                if rel_parts:
                    under += "/"
                if self.black_listed(under, real, folder):
                    return None
                if not is_folder and parts:
                    return Redirect(_relative_folder(parts, query))
                target = self._folder(folder, rel_parts, real, path)
                if target is not None:
                    return target
            elif stat.S_ISREG(st.st_mode):
                if not self.allowed(under, real, folder):
                    return None
                return FileTarget(real, st)
        favicon = self.settings.favicon_fallback
        if parts and parts[-1] == "favicon.ico" and favicon:
            favicon = os.path.join(self.settings.base_path, favicon)
            try:
                return FileTarget(favicon, os.stat(favicon))
            except OSError:
                return None
        return None

    def _folder(self, folder: str, rel_parts: list[str], real: str,
                url_path: str) -> FileTarget | Listing | None:
        under = "/" + "".join(part + "/" for part in rel_parts)
        for name in INDEX_FILES:
            found = inside(folder, rel_parts + [name])
            if found is not None and stat.S_ISREG(found[1].st_mode) and \
                    self.allowed(under + name, found[0], folder):
                return FileTarget(*found)
        if self.settings.directory_listing:
            return Listing(real, url_path, folder, under)
        return None

    def listing_html(self, listing: Listing) -> bytes:
        """An HTML page linking the folder's visible entries."""
        import html  # loaded on first use
        rows = []
        with os.scandir(listing.folder) as entries:
            for entry in sorted(entries, key=lambda e: e.name.lower()):
                name = self._listed_name(listing, entry)
                if name is not None:
                    rows.append(f'<li><a href="./{quote(name)}">'
                                f"{html.escape(name)}</a></li>")
        title = html.escape(listing.url_path)
        return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                f"<title>{title}</title></head><body><h1>{title}</h1>"
                f"<ul>{''.join(rows)}</ul></body></html>\n").encode("utf-8")

    def _listed_name(self, listing: Listing, entry: os.DirEntry[str]
                     ) -> str | None:
        """How a folder entry is listed ("name" or "name/"); None for
        what is never listed: hidden, black-listed, a file the white-list
        does not allow, a symlink leaving the bound folder."""
        if entry.name.startswith("."):
            return None
        real = entry.path
        try:
            if entry.is_symlink():
                real = os.path.realpath(real)
                if not _contains(listing.root, real):
                    return None
            is_dir = entry.is_dir()
        except OSError:
            return None
        if is_dir:
            name = entry.name + "/"
            if self.black_listed(listing.under + name, real, listing.root):
                return None
            return name
        if not self.allowed(listing.under + entry.name, real, listing.root):
            return None
        return entry.name


def inside(folder: str, parts: list[str]
           ) -> tuple[str, os.stat_result] | None:
    """The path and stat of `folder/parts...` when it exists and does not
    leave `folder` (a real path); None otherwise. Each part is `lstat`ed,
    so the common case costs one system call per segment; a symlink on
    the way is resolved with `realpath` and must stay inside `folder`."""
    path = folder
    st = None
    for pos, part in enumerate(parts):
        path = os.path.join(path, part)
        try:
            st = os.lstat(path)
        except (OSError, ValueError):
            return None
        if stat.S_ISLNK(st.st_mode):
            real = os.path.realpath(os.path.join(path, *parts[pos + 1:]))
            if not _contains(folder, real):
                return None
            try:
                return real, os.stat(real)
            except (OSError, ValueError):
                return None
    if st is None:
        try:
            st = os.stat(folder)
        except OSError:
            return None
    return path, st


def _contains(folder: str, real: str) -> bool:
    """Whether the real path `real` is `folder` or inside it."""
    return real == folder or os.path.commonpath([real, folder]) == folder


def _relative_folder(parts: list[str], query: str) -> str:
    # relative and starting with "./": never another host or scheme
    location = "./" + quote(parts[-1]) + "/" if parts else "./"
    return location + ("?" + escape_query(query) if query else "")


# what may stay as it is in a URL's query (RFC 3986); a "%" only before
# two hex digits
_QUERY_UNSAFE = re.compile(
    r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]|%(?![0-9A-Fa-f]{2})")


def escape_query(query: str) -> str:
    """`query` with every character a URL's query may not hold (CR, LF,
    space, controls, non-ASCII, a stray "%") percent-encoded; an ordinary
    query is returned unchanged."""
    return _QUERY_UNSAFE.sub(_percent_encoded, query)


def _percent_encoded(match: re.Match[str]) -> str:
    char = match.group()
    # the request line is read as latin-1: its bytes come back as they were
    data = char.encode("latin-1" if ord(char) < 256 else "utf-8")
    return "".join(f"%{byte:02X}" for byte in data)
