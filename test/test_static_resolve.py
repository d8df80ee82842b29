"""What a static path serves, without sockets (issue 18.7):
`StaticFiles.resolve` on a real folder tree against the paths a hostile
client would try (dot segments however encoded, encoded slashes, NUL,
backslashes, hidden files, symlinks out of the folder), the white and
black lists (matched on the path under the folder, the real path and the
base name), index files, folder redirects, listings and bindings."""
from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import pytest

from quick_server.http.file_headers import FileTarget
from quick_server.http.responses import HTTPError
from quick_server.http.static import (Listing, Redirect, StaticFiles,
                                      decode_path, escape_query, match_forms)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: Any) -> str:
    """base/www (served), base/www2 (a sibling whose name starts like
    www), base/outside; symlinks inside www point in and out."""
    base = tmp_path_factory.mktemp("static")
    files = {
        "www/index.html": "<h1>home</h1>",
        "www/a.txt": "a",
        "www/a b.txt": "space",
        "www/page.html": "page",
        "www/UPPER.TXT": "upper",
        "www/secret.key": "key",
        "www/Notes-Secret.txt": "notes",
        "www/.env": "hidden",
        "www/.git/config": "hidden",
        "www/sub/i.txt": "i",
        "www/sub/.hidden.txt": "hidden",
        "www/sub/<b>&amp;.txt": "odd name",
        "www/sub/deep/d.txt": "deep",
        "www/withindex/index.htm": "htm index",
        "www/private/d.txt": "private",
        "www/we?ird/w.txt": "weird",
        "www2/x.txt": "sibling",
        "www2/fav.ico": "icon",
        "outside/o.txt": "outside",
    }
    for name, text in files.items():
        path = base / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    links = {
        "www/link_in.txt": "a.txt",
        "www/link_out.txt": "../outside/o.txt",
        "www/link_sibling.txt": "../www2/x.txt",
        "www/link_abs.txt": str(base / "outside" / "o.txt"),
        "www/dir_out": "../outside",
        "www/alias": "sub",
        "www/chain1.txt": "chain2.txt",
        "www/chain2.txt": "../outside/o.txt",
        "www/key_alias.txt": "secret.key",
        "www/dangling.txt": "missing.txt",
        "www/loop.txt": "loop.txt",
        "www/sub/up": "..",
        "www/sub/out_dir": "../../outside",
    }
    for name, target in links.items():
        os.symlink(target, base / name)
    return str(base)


def files(tree: str, *, listing: bool = False, favicon: str | None = None,
          white: list[str] | None = None, black: list[str] | None = None
          ) -> StaticFiles:
    res = StaticFiles(SimpleNamespace(  # type: ignore[arg-type]
        base_path=tree, directory_listing=listing, favicon_fallback=favicon))
    res.bind("/", "www")
    if white:
        res.white.add(white)
    if black:
        res.black.add(black)
    return res


def served(static: StaticFiles, path: str, query: str = "") -> str | None:
    """The file a path serves, relative to the base; None for nothing;
    a Redirect or Listing as their repr."""
    found = static.resolve(path, query)
    if found is None:
        return None
    if isinstance(found, FileTarget):
        assert found.st.st_size == os.stat(found.path).st_size
        base = os.path.dirname(static.bindings[-1][1])
        return os.path.relpath(found.path, base)
    return repr(found)


# -- decoding: what never gets near the disk --------------------------------

@pytest.mark.parametrize("path", [
    "/..", "/../outside/o.txt", "/a/../a.txt", "/sub/..", "/./a.txt",
    "/%2e%2e/outside/o.txt", "/%2E%2E/outside/o.txt", "/.%2e/x",
    "/sub%2F..%2F..%2Foutside%2Fo.txt",  # encoded slashes and dots
    "/sub/%2e", "/a.txt%00.html", "/a.txt\x00", "/%00",
    "/..%5Coutside%5Co.txt", "/sub\\..\\a.txt", "/%5C",
    "/%FF.txt", "/%C0%AE%C0%AE/outside",  # not UTF-8 (overlong dots)
    "a.txt", "", "*", "http://evil/a.txt",
])
def test_paths_that_could_leave_the_folder_are_a_400(tree, path):
    with pytest.raises(HTTPError) as info:
        files(tree).resolve(path)
    assert info.value.code == 400


def test_a_path_is_decoded_once():
    assert decode_path("/a%20b/%252e%252e/c%2Fd") == \
        ["a b", "%2e%2e", "c", "d"]
    assert decode_path("/") == [""]
    assert decode_path("/x/") == ["x", ""]


def test_double_encoding_is_a_name_not_a_dot_segment(tree):
    assert served(files(tree), "/sub/%252e%252e/a.txt") is None


@pytest.mark.parametrize("path", [
    "/a.txt", "//a.txt", "/%61.txt", "/a%2Etxt", "/%2Fa.txt", "///a.txt",
])
def test_spellings_of_one_file_serve_that_file(tree, path):
    assert served(files(tree), path) == "www/a.txt"


def test_names_with_spaces_and_encoded_slashes(tree):
    static = files(tree)
    assert served(static, "/a%20b.txt") == "www/a b.txt"
    assert served(static, "/sub%2Fdeep%2Fd.txt") == "www/sub/deep/d.txt"
    assert served(static, "/sub/%3Cb%3E%26amp%3B.txt") == \
        "www/sub/<b>&amp;.txt"


@pytest.mark.parametrize("path", [
    "/missing.txt", "/a.txt/x", "/sub/missing/", "/" + "n" * 300,
    "/" + "d/" * 200 + "x", "/dangling.txt", "/loop.txt",
])
def test_what_does_not_exist_is_none_not_an_error(tree, path):
    assert files(tree).resolve(path) is None


# -- hidden files ---------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/.env", "/%2Eenv", "/.git/config", "/.git/", "/.git", "/sub/.hidden.txt",
    "/sub/%2ehidden.txt", "/.git%2Fconfig",
])
def test_hidden_files_and_folders_are_never_served(tree, path):
    assert files(tree, listing=True).resolve(path) is None


# -- symlinks -----------------------------------------------------------------

@pytest.mark.parametrize("path", [
    "/link_out.txt", "/link_abs.txt", "/dir_out/o.txt", "/dir_out/",
    "/chain1.txt", "/sub/out_dir/o.txt",
    "/link_sibling.txt",  # www2 starts like www: not inside it
])
def test_symlinks_out_of_the_folder_serve_nothing(tree, path):
    assert files(tree, listing=True).resolve(path) is None


def test_symlinks_inside_the_folder_serve_their_target(tree):
    static = files(tree)
    assert served(static, "/link_in.txt") == "www/a.txt"
    assert served(static, "/alias/i.txt") == "www/sub/i.txt"
    assert served(static, "/alias/deep/d.txt") == "www/sub/deep/d.txt"
    assert served(static, "/sub/up/a.txt") == "www/a.txt"


# -- white and black lists ----------------------------------------------

def test_a_white_list_allows_only_what_it_matches_case_insensitively(tree):
    static = files(tree, white=["*.txt"])
    assert served(static, "/a.txt") == "www/a.txt"
    assert served(static, "/UPPER.TXT") == "www/UPPER.TXT"
    assert served(static, "/page.html") is None
    assert served(static, "/secret.key") is None


def test_the_black_list_wins_over_the_white_list(tree):
    static = files(tree, white=["*.txt"], black=["*secret*"])
    assert served(static, "/Notes-Secret.txt") is None
    assert served(static, "/a.txt") == "www/a.txt"


def test_the_black_list_matches_the_real_path_behind_a_symlink(tree):
    static = files(tree, black=["*.key", "*/sub/*"])
    assert served(static, "/secret.key") is None
    assert served(static, "/key_alias.txt") is None  # its real base name
    assert served(static, "/sub/i.txt") is None
    assert served(static, "/alias/i.txt") is None  # its real path under www
    assert served(static, "/a.txt") == "www/a.txt"


def test_black_listing_a_folder_pattern_hides_it_and_its_files(tree):
    static = files(tree, listing=True, black=["*/private/*"])
    for path in ("/private/d.txt", "/private/", "/private", "/PRIVATE/"):
        assert static.resolve(path) is None, path


def test_patterns_ignore_the_url_prefix_and_spelling(tree):
    static = StaticFiles(SimpleNamespace(  # type: ignore[arg-type]
        base_path=tree, directory_listing=False, favicon_fallback=None))
    static.bind("/static/v1/", "www")
    static.black.add(["/sub/*"])
    assert static.resolve("/static/v1/sub/i.txt") is None
    assert static.resolve("/static/v1//sub%2Fi.txt") is None
    assert static.resolve("/static/v1/alias/i.txt") is None
    assert isinstance(static.resolve("/static/v1/a.txt"), FileTarget)


def test_match_forms():
    assert match_forms("/Sub/A.txt", "/R/www/Sub/A.txt", "/R/www") == \
        ("/sub/a.txt", "/r/www/sub/a.txt", "a.txt")
    assert match_forms("/alias/", "/r/www/sub/", "/r/www") == \
        ("/alias/", "/r/www/sub/", "/sub/", "alias/", "sub/")


# -- folders: index, redirect, listing ----------------------------------

def test_a_folder_serves_its_index(tree):
    static = files(tree)
    assert served(static, "/") == "www/index.html"
    assert served(static, "/withindex/") == "www/withindex/index.htm"


def test_a_folder_without_its_slash_is_a_relative_redirect(tree):
    static = files(tree, listing=True)
    assert static.resolve("/withindex") == Redirect("./withindex/")
    assert static.resolve("/sub/deep", "a=1&b") == Redirect("./deep/?a=1&b")
    assert static.resolve("/we%3Fird") == Redirect("./we%3Fird/")
    assert static.resolve("//sub") == Redirect("./sub/")


@pytest.mark.parametrize("query", [
    "a=1\r\nSet-Cookie: x=1", "q=<script>", "x=\u00e9 y", "bad=%zz",
    "//evil.example/", "a=1#frag",
])
def test_a_redirect_location_stays_relative_and_clean(tree, query):
    found = files(tree).resolve("/sub", query)
    assert isinstance(found, Redirect)
    location = found.location
    assert location.startswith("./sub/?")
    assert all(33 <= ord(c) < 127 for c in location), location
    assert "<" not in location and "#" not in location


def test_escape_query():
    assert escape_query("a=1&b=x%20y/z?w") == "a=1&b=x%20y/z?w"
    assert escape_query("a b\r\n%zz%4") == "a%20b%0D%0A%25zz%254"
    assert escape_query("\u00e9\u20ac") == "%E9%E2%82%AC"


def test_a_folder_without_index_is_listed_only_when_listings_are_on(tree):
    assert files(tree).resolve("/sub/") is None
    found = files(tree, listing=True).resolve("/sub/")
    real = os.path.realpath(os.path.join(tree, "www"))
    assert found == Listing(os.path.join(real, "sub"), "/sub/", real,
                            "/sub/")


def test_an_index_the_white_list_refuses_is_not_served(tree):
    static = files(tree, white=["*.txt"])
    assert static.resolve("/") is None
    found = files(tree, listing=True, white=["*.txt"]).resolve("/")
    assert isinstance(found, Listing)


def test_a_listing_shows_what_may_be_served_escaped(tree):
    static = files(tree, listing=True, black=["*/deep/*"])
    found = static.resolve("/sub/")
    assert isinstance(found, Listing)
    page = static.listing_html(found).decode()
    assert "i.txt" in page
    assert "hidden" not in page  # a hidden file
    assert "out_dir" not in page  # a symlink out of the folder
    assert "deep" not in page  # a black-listed folder
    assert 'href="./up/"' in page  # a folder (a symlink inside www)
    assert "&lt;b&gt;&amp;amp;.txt" in page
    assert 'href="./%3Cb%3E%26amp%3B.txt"' in page
    assert "<b>" not in page


def test_a_listing_of_the_root_hides_links_out_and_refused_files(tree):
    static = files(tree, listing=True, white=["*.txt"], black=["*.key"])
    found = static.resolve("/sub/up/")  # the root, through a symlink
    assert isinstance(found, Listing)
    page = static.listing_html(found).decode()
    for name in ("link_out.txt", "link_abs.txt", "dir_out", "chain1.txt",
                 "link_sibling.txt", ".env", ".git", "page.html",
                 "index.html", "secret.key", "key_alias.txt"):
        assert f">{name}<" not in page and f">{name}/<" not in page, name
    for name in ("a.txt", "link_in.txt", "sub/", "UPPER.TXT"):
        assert f">{name}<" in page, name
    names = [line.split(">")[1].split("<")[0]
             for line in page.split("<li>")[1:]]
    assert names == sorted(names, key=str.lower)


def test_a_listing_title_is_escaped(tree):
    static = files(tree, listing=True)
    page = static.listing_html(Listing(os.path.join(tree, "www", "sub"),
                                       "/<script>x</script>/",
                                       os.path.join(tree, "www"), "/sub/"))
    assert b"<script>" not in page and b"&lt;script&gt;" in page


# -- bindings and the favicon -----------------------------------------------

def test_a_prefix_binding(tree):
    static = StaticFiles(SimpleNamespace(  # type: ignore[arg-type]
        base_path=tree, directory_listing=False, favicon_fallback=None))
    static.bind("/static/", "www")
    assert isinstance(static.resolve("/static/a.txt"), FileTarget)
    assert static.resolve("/static") == Redirect("./static/")
    assert static.resolve("/a.txt") is None
    assert static.resolve("/staticx/a.txt") is None
    for prefix in ("static/", "/static", ""):
        with pytest.raises(ValueError):
            static.bind(prefix, "www")


def test_later_bindings_first_fallbacks_last(tree):
    static = StaticFiles(SimpleNamespace(  # type: ignore[arg-type]
        base_path=tree, directory_listing=False, favicon_fallback=None))
    static.bind("/", "www2", fallback=True)
    static.bind("/", "outside")
    static.bind("/", "www")
    assert served(static, "/a.txt") == "www/a.txt"
    assert served(static, "/o.txt") == "outside/o.txt"
    assert served(static, "/x.txt") == "www2/x.txt"
    with pytest.raises(HTTPError):
        static.resolve("/../www2/x.txt")


def test_the_favicon_fallback(tree):
    static = files(tree, favicon="www2/fav.ico")
    assert served(static, "/favicon.ico") == "www2/fav.ico"
    assert served(static, "/sub/favicon.ico") == "www2/fav.ico"
    assert served(static, "/favicon.ico.txt") is None
    assert files(tree, favicon="missing.ico").resolve("/favicon.ico") is None
    assert files(tree).resolve("/favicon.ico") is None
