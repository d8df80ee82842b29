"""The JSON depth check of request bodies (16.12): exact on JSON (brackets
inside strings, escaped quotes and backslashes do not count), a 400 past
`MAX_JSON_DEPTH`, and cheap next to parsing (unit tests, no sockets)."""
from __future__ import annotations

import json
import random
import time
from typing import Any

import pytest

from quick_server.http.body import MAX_JSON_DEPTH, json_depth, parse_json
from quick_server.http.responses import HTTPError


def depth_of(value: Any) -> int:
    """The nesting of a parsed value (the reference)."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


@pytest.mark.parametrize("text, depth", [
    ('"plain"', 0),
    ("[]", 1),
    ('["[[[[", "{{{"]', 1),
    ('["\\"[[", "]]\\"", "\\\\"]', 1),  # escaped quotes, escaped backslash
    ('["\\\\\\"[[[\\\\"]', 1),  # \\ \" [[[ \\ inside one string
    ('{"a\\\\": "]]]]", "b": [[{"c": "\\\\\\\\"}]]}', 4),
    ('[[], [[], [[]]], {"x": [{}]}]', 4),
    ('"\\u005b\\u005b"', 0),
    ('["ä[", "😀{"]', 1),
])
def test_brackets_in_strings_do_not_count(text, depth):
    assert depth_of(json.loads(text)) == depth
    assert json_depth(text.encode()) == depth


STRINGS = ["", "[", "]", "{", "}", '"', "\\", '\\"[', "a]b", "ä{", "x" * 5,
           '"]"', "\\\\", "[[]]"]


def random_value(rng: random.Random, depth: int) -> Any:
    kind = rng.random()
    if depth <= 0 or kind < 0.3:
        return rng.choice([rng.choice(STRINGS) * rng.randint(1, 3), 1, None,
                           2.5, True])
    items = [random_value(rng, depth - rng.randint(1, 3))
             for _ in range(rng.randint(0, 4))]
    if kind < 0.65:
        return items
    return {rng.choice(STRINGS) + str(i): item
            for i, item in enumerate(items)}


def test_random_documents_match_the_parsed_depth():
    rng = random.Random(1612)
    for _ in range(400):
        value = random_value(rng, rng.randint(0, 30))
        for text in (json.dumps(value), json.dumps(value, indent=1),
                     json.dumps(value, ensure_ascii=False)):
            assert json_depth(text.encode()) == depth_of(value), text


def test_deep_chains_after_the_fast_passes_are_summed_exactly():
    for depth in (9, 63, 64, 100, 101, 300):
        chain = "[" * depth + "]" * depth
        text = "[" + ", ".join([chain, "[[1], [2]]"] * 50) + "]"
        assert json_depth(text.encode()) == depth + 1


def test_a_body_past_the_limit_is_a_400_and_strings_do_not_count():
    ok = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    assert depth_of(parse_json(ok.encode())) == MAX_JSON_DEPTH
    too_deep = "[" + ok + "]"
    with pytest.raises(HTTPError) as err:
        parse_json(too_deep.encode())
    assert err.value.code == 400 and "nested too deeply" in str(err.value)
    brackets = json.dumps(["[" * 500 + '\\"' + "{" * 500])
    assert parse_json(brackets.encode()) == json.loads(brackets)


def cpu(fn: Any) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        fn()
        best = min(best, time.process_time() - start)
    return best


def test_the_check_costs_a_fraction_of_the_parse():
    """The old per-character loop cost about half of `json.loads` on this
    body (7x on string-heavy ones); the scan by bytes methods about 5 %."""
    unit = "[" * 60 + "]" * 60
    data = ("[" + ",".join([unit] * 4000) + "]").encode()
    assert json_depth(data) == 61
    assert cpu(lambda: json_depth(data)) < cpu(lambda: json.loads(data)) / 4
