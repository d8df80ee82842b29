"""Content negotiation on `Accept` (RFC 9110, 12.5.1): the media ranges
a client names with their qualities, the quality it gives one media
type (the most specific range that matches decides), and which of the
server's offers it prefers. Media type parameters other than `q` are
not told apart (`text/html;level=1` counts as `text/html`)."""
from __future__ import annotations

from typing import Sequence

MediaRanges = list[tuple[str, float]]


def media_ranges(accept: str | None) -> MediaRanges:
    """(range, quality) of each item of an `Accept` value, lowercased;
    the quality 1 when not given, 0 when it is not a number, at most 1."""
    ranges: MediaRanges = []
    for item in (accept or "").lower().split(","):
        media, *params = item.split(";")
        media = media.strip()
        if not media:
            continue
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
                # NaN, and a negative quality, count as refused
                quality = min(quality, 1.0) if quality > 0 else 0.0
                break  # (what follows q is an accept extension)
        ranges.append((media, quality))
    return ranges


def quality(ranges: MediaRanges, media: str) -> float:
    """The quality `ranges` give `media` (`type/subtype`): that of the
    most specific range that matches it (`type/subtype`, then `type/*`,
    then `*/*`; the highest of equals), 0 when none does."""
    main = media.partition("/")[0]
    best, found = 0.0, -1
    for name, value in ranges:
        if name == media:
            rank = 2
        elif name == f"{main}/*":
            rank = 1
        elif name == "*/*":
            rank = 0
        else:
            continue
        if rank > found or (rank == found and value > best):
            best, found = value, rank
    return best


def preferred(accept: str | None, offers: Sequence[str]) -> str:
    """The offer the client prefers: the highest quality, the earlier
    offer when two are equal. The first offer when `Accept` is absent or
    empty, or refuses every offer (RFC 9110 lets a server answer as if
    there were no `Accept`: the default beats a 406 for a picture)."""
    ranges = media_ranges(accept)
    if not ranges:
        return offers[0]
    best, chosen = 0.0, offers[0]
    for offer in offers:
        value = quality(ranges, offer)
        if value > best:
            best, chosen = value, offer
    return chosen


def accepted(accept: str | None) -> set[str]:
    """The media ranges an `Accept` value names with a quality above 0."""
    return {media for media, value in media_ranges(accept) if value > 0}

