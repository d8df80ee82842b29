"""`Accept` negotiation (issue 25, pictures): qualities, the most specific
range deciding, and the picture format a client gets. Pure: no socket."""
from __future__ import annotations

import pytest

from quick_server.http.negotiation import (accepted, media_ranges,
                                          preferred, quality)
from quick_server.http.rich_answers import PICTURE_OFFERS

CHROME_IMG = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX_PAGE = ("text/html,application/xhtml+xml,application/xml;q=0.9,"
                "image/avif,image/webp,*/*;q=0.8")


def test_media_ranges_read_qualities_and_drop_the_rest():
    assert media_ranges("Image/SVG+XML; q=0.5, image/png, , text/html;"
                        "level=1;q=0.2;ext=1") == [
        ("image/svg+xml", 0.5), ("image/png", 1.0), ("text/html", 0.2)]
    assert media_ranges(None) == [] and media_ranges("") == []


@pytest.mark.parametrize("text, value", [
    ("q=bad", 0.0), ("q=nan", 0.0), ("q=-1", 0.0), ("q=2", 1.0),
    ("Q=0.25", 0.25), ("q=0", 0.0), ("q = 0.5", 0.5)])
def test_a_quality_that_is_no_number_refuses(text, value):
    assert media_ranges(f"image/png;{text}") == [("image/png", value)]


def test_the_most_specific_range_decides():
    ranges = media_ranges("image/*;q=0.5, image/svg+xml;q=0.1, */*;q=0.9")
    assert quality(ranges, "image/svg+xml") == 0.1  # not image/*'s 0.5
    assert quality(ranges, "image/png") == 0.5  # not */*'s 0.9
    assert quality(ranges, "text/plain") == 0.9
    assert quality(media_ranges("text/*"), "image/png") == 0.0


@pytest.mark.parametrize("accept, media", [
    (None, "image/png"),
    ("", "image/png"),
    ("image/svg+xml", "image/svg+xml"),
    ("image/*", "image/png"),  # either: the server's first
    ("*/*", "image/png"),
    ("image/png;q=0.5, image/svg+xml", "image/svg+xml"),
    ("image/svg+xml;q=0.9, image/png", "image/png"),
    ("image/svg+xml, image/*;q=0.8", "image/svg+xml"),
    ("image/png;q=0, */*", "image/svg+xml"),
    ("image/svg+xml;q=0", "image/png"),
    ("application/json", "image/png"),  # refuses both: the default
    (CHROME_IMG, "image/png"),  # svg and image/* both 1
    (FIREFOX_PAGE, "image/png"),
])
def test_the_picture_format_a_client_gets(accept, media):
    assert preferred(accept, PICTURE_OFFERS) == media


def test_accepted_names_what_has_a_quality():
    assert accepted("text/html;q=0, application/json, */*;q=0.1") == {
        "application/json", "*/*"}
