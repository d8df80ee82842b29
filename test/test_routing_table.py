"""The route table without sockets (issue 18.7): masks and named segments,
the most specific mask first (then the first registered), `argc`, HEAD
served by GET routes, a 405 with the methods that do answer, duplicate
shapes refused, and the middleware chain."""
from __future__ import annotations

from typing import Any

import pytest

from quick_server.http.routing import (NEXT, MethodNotAllowed, Route,
                                       RouteTable, split_middleware,
                                       with_middleware)


def handler(name: str) -> Any:
    def answer(req: Any, args: Any) -> str:
        return name
    answer.__name__ = name
    return answer


def table(*routes: tuple[str, str] | tuple[str, str, int | None]
          ) -> RouteTable:
    """A table of (method, mask[, argc]) routes, each answering its mask
    (with its argc, when given)."""
    res = RouteTable()
    for method, mask, *argc in routes:
        name = mask if not argc else f"{mask}#{argc[0]}"
        res.add(Route(method, mask, "json", handler(name),
                      argc=argc[0] if argc else None))
    return res


def matched(routes: RouteTable, method: str, path: str
            ) -> tuple[str, list[str], dict[str, str]] | None:
    found = routes.match(method, path)
    if found is None:
        return None
    route, paths, segments = found
    return route.handler(None, None), paths, segments  # type: ignore


# -- masks, segments, argc ----------------------------------------------

def test_a_mask_is_a_prefix_and_the_rest_are_paths():
    routes = table(("GET", "/api/items"))
    assert matched(routes, "GET", "/api/items") == ("/api/items", [], {})
    assert matched(routes, "GET", "/api/items/3/x") == \
        ("/api/items", ["3", "x"], {})
    assert matched(routes, "GET", "/api") is None
    assert matched(routes, "GET", "/api/itemsX") is None
    assert matched(routes, "GET", "/other") is None


def test_empty_segments_and_trailing_slashes_do_not_count():
    routes = table(("GET", "/a/b"))
    for path in ("/a/b", "/a/b/", "//a//b", "/a/b//"):
        assert matched(routes, "GET", path) == ("/a/b", [], {}), path


def test_named_segments_capture_one_decoded_segment():
    routes = table(("GET", "/users/:uid/posts/:pid"))
    assert matched(routes, "GET", "/users/u%20one/posts/7/rest") == (
        "/users/:uid/posts/:pid", ["rest"], {"uid": "u one", "pid": "7"})
    assert matched(routes, "GET", "/users/u1/posts") is None
    assert matched(routes, "GET", "/users/u1/comments/7") is None


def test_an_encoded_slash_stays_inside_its_segment():
    routes = table(("GET", "/f/:name", 0), ("GET", "/f/:a/:b", 0))
    assert matched(routes, "GET", "/f/a%2Fb") == \
        ("/f/:name#0", [], {"name": "a/b"})
    assert matched(routes, "GET", "/f/a/b") == \
        ("/f/:a/:b#0", [], {"a": "a", "b": "b"})


def test_dot_segments_are_not_resolved_into_another_route():
    """`/public/../admin` is not `/admin`: the table never normalizes a
    path, so no spelling reaches a route its first segments do not
    name."""
    routes = table(("GET", "/admin"), ("GET", "/public"))
    assert matched(routes, "GET", "/public/../admin") == \
        ("/public", ["..", "admin"], {})
    assert matched(routes, "GET", "/x/../admin") is None
    assert matched(routes, "GET", "/%61dmin") == ("/admin", [], {})


def test_argc_counts_the_segments_after_the_mask():
    routes = table(("GET", "/exact", 0), ("GET", "/one", 1),
                   ("GET", "/any"))
    assert matched(routes, "GET", "/exact") == ("/exact#0", [], {})
    assert matched(routes, "GET", "/exact/x") is None
    assert matched(routes, "GET", "/one") is None
    assert matched(routes, "GET", "/one/x") == ("/one#1", ["x"], {})
    assert matched(routes, "GET", "/one/x/y") is None
    assert matched(routes, "GET", "/any/1/2/3") == \
        ("/any", ["1", "2", "3"], {})


def test_one_mask_with_several_argc_values():
    routes = table(("GET", "/v", 0), ("GET", "/v", 2))
    assert matched(routes, "GET", "/v") == ("/v#0", [], {})
    assert matched(routes, "GET", "/v/a/b") == ("/v#2", ["a", "b"], {})
    assert matched(routes, "GET", "/v/a") is None  # GET /v is known ...
    # ... but no route of any method fits one extra segment: a 404
    assert table(("GET", "/v", 0)).allowed("/v/a") == []


# -- order: specificity, then registration --------------------------------

def test_more_segments_win_over_fewer():
    routes = table(("GET", "/a"), ("GET", "/a/b"), ("GET", "/a/b/c"))
    assert matched(routes, "GET", "/a/b/c/d")[0] == "/a/b/c"
    assert matched(routes, "GET", "/a/b/x")[0] == "/a/b"
    assert matched(routes, "GET", "/a/x")[0] == "/a"


def test_literal_segments_win_over_named_ones_whatever_the_order():
    for order in (1, -1):
        masks = [("GET", "/u/:id"), ("GET", "/u/me")][::order]
        routes = table(*masks)
        assert matched(routes, "GET", "/u/me") == ("/u/me", [], {})
        assert matched(routes, "GET", "/u/42") == \
            ("/u/:id", [], {"id": "42"})


def test_a_longer_mask_with_names_wins_over_a_shorter_literal_one():
    """More segments first, then more literal segments (the docstring's
    rule)."""
    routes = table(("GET", "/a/b"), ("GET", "/a/:x/:y"))
    assert matched(routes, "GET", "/a/b/c") == \
        ("/a/:x/:y", [], {"x": "b", "y": "c"})
    assert matched(routes, "GET", "/a/b") == ("/a/b", [], {})


def test_equally_specific_masks_first_registered_wins():
    for first, second in (("/p/:id/edit", "/p/new/:what"),
                          ("/p/new/:what", "/p/:id/edit")):
        routes = table(("GET", first), ("GET", second))
        assert matched(routes, "GET", "/p/new/edit")[0] == first


def test_the_root_mask_is_the_catch_all_of_last_resort():
    routes = table(("GET", "/"), ("GET", "/api"))
    assert matched(routes, "GET", "/api/x") == ("/api", ["x"], {})
    assert matched(routes, "GET", "/other/x") == ("/", ["other", "x"], {})
    assert matched(routes, "GET", "/") == ("/", [], {})


# -- methods: HEAD and 405 --------------------------------------------------

def test_head_is_served_by_get_routes_only():
    routes = table(("GET", "/g"), ("POST", "/p"))
    assert matched(routes, "HEAD", "/g") == ("/g", [], {})
    with pytest.raises(MethodNotAllowed) as info:
        routes.match("HEAD", "/p")
    assert info.value.allowed == ["POST"]


def test_a_path_other_methods_answer_is_a_405_listing_them():
    routes = table(("GET", "/r"), ("DELETE", "/r"), ("PUT", "/r/:id", 0),
                   ("POST", "/elsewhere"))
    with pytest.raises(MethodNotAllowed) as info:
        routes.match("POST", "/r")
    assert info.value.allowed == ["DELETE", "GET", "HEAD"]
    assert str(info.value) == "DELETE, GET, HEAD"
    with pytest.raises(MethodNotAllowed) as info:
        routes.match("POST", "/r/7")
    assert info.value.allowed == ["DELETE", "GET", "HEAD", "PUT"]


def test_unknown_or_oddly_spelled_methods_are_405_not_a_match():
    routes = table(("GET", "/r"))
    for method in ("get", "OPTIONS", "TRACE", "G\x00ET", ""):
        with pytest.raises(MethodNotAllowed) as info:
            routes.match(method, "/r")
        assert info.value.allowed == ["GET", "HEAD"]


def test_a_path_no_route_answers_is_none_not_a_405():
    routes = table(("POST", "/only/post", 0))
    assert routes.match("GET", "/nothing") is None
    assert routes.match("GET", "/only/post/extra") is None
    assert RouteTable().match("GET", "/") is None
    assert RouteTable().allowed("/") == []


# -- registration -----------------------------------------------------------

def test_the_same_shape_twice_is_refused():
    routes = table(("GET", "/a/:x"))
    for mask in ("/a/:y", "/a/:x/", "//a/:x"):
        with pytest.raises(ValueError, match="already registered"):
            routes.add(Route("GET", mask, "json", handler("again")))
    assert len(routes) == 1
    # another method, another argc, a literal instead of a name: fine
    routes.add(Route("POST", "/a/:x", "json", handler("p")))
    routes.add(Route("GET", "/a/:x", "json", handler("g1"), argc=1))
    routes.add(Route("GET", "/a/lit", "json", handler("lit")))
    assert len(routes) == 4


@pytest.mark.parametrize("mask", ["", "a", "api/x", " /a"])
def test_a_mask_must_start_with_a_slash(mask):
    with pytest.raises(ValueError, match="must start with '/'"):
        Route("GET", mask, "json", handler("x"))


def test_route_parts_shape_and_specificity():
    route = Route("GET", "/a/:b/c/", "text", handler("x"), argc=2)
    assert route.parts == ("a", ":b", "c")
    assert route.shape == ("GET", ("a", ":", "c"), 2)
    assert route.specificity == (3, 2)


def test_adding_swaps_in_a_new_list():
    """A request that already holds the list keeps a whole, sorted one."""
    routes = table(("GET", "/a"))
    before = routes._routes
    routes.add(Route("GET", "/a/b", "json", handler("/a/b")))
    assert [r.mask for r in before] == ["/a"]
    assert [r.mask for r in routes._routes] == ["/a/b", "/a"]


# -- middleware -------------------------------------------------------------

def test_middleware_runs_in_order_and_may_answer_instead():
    seen: list[str] = []

    def mw(name: str, answer: Any = NEXT) -> Any:
        def middleware(req: Any, args: dict, okay: Any) -> Any:
            assert okay is NEXT
            seen.append(name)
            args["meta"][name] = True
            return answer
        return middleware

    def inner(req: Any, args: dict) -> Any:
        seen.append("handler")
        return sorted(args["meta"])

    chained = with_middleware([mw("one"), mw("two")], inner)
    assert chained(None, {"meta": {}}) == ["one", "two"]
    assert seen == ["one", "two", "handler"]
    seen.clear()
    stopped = with_middleware([mw("one"), mw("stop", {"no": 1}),
                               mw("never")], inner)
    assert stopped(None, {"meta": {}}) == {"no": 1}
    assert seen == ["one", "stop"]


def test_middleware_answering_none_or_false_stops_the_chain():
    """Only NEXT goes on: a falsy answer is still an answer."""
    for answer in (None, False, 0, ""):
        chained = with_middleware([lambda req, args, okay: answer],
                                  lambda req, args: "handler")
        assert chained(None, {}) == answer


def test_wrapping_twice_keeps_one_flat_chain_outer_first():
    order: list[str] = []

    def mw(name: str) -> Any:
        def middleware(req: Any, args: Any, okay: Any) -> Any:
            order.append(name)
            return okay
        return middleware

    def plain(req: Any, args: Any) -> str:
        """The handler's doc."""
        return "done"

    inner = with_middleware([mw("inner")], plain)
    outer = with_middleware([mw("outer1"), mw("outer2")], inner)
    assert outer(None, {}) == "done"
    assert order == ["outer1", "outer2", "inner"]
    chain, found = split_middleware(outer)
    assert found is plain
    assert len(chain) == 3
    assert outer.__name__ == "plain" and outer.__doc__ == "The handler's doc."


def test_no_middleware_leaves_the_handler_as_it_is():
    def plain(req: Any, args: Any) -> str:
        return "x"
    assert with_middleware([], plain) is plain
    assert split_middleware(plain) == ([], plain)
