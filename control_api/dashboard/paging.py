"""The dashboard's list pages: which page was asked for, and the previous/next links that the
`pager` macro (templates/dashboard/pagination.html) shows under every list."""
from __future__ import annotations

from flask import request, url_for

PAGE_SIZE = 20
LAST_PAGE = 10_000  # a page number past this (or not a number) is page 1


def page_number() -> int:
    number = request.args.get("page", 1, type=int)
    return number if 1 <= number <= LAST_PAGE else 1


def pager(endpoint: str, number: int, has_next: bool, **arguments: str) -> dict[str, str | None]:
    """The previous/next links of page `number` of a list, keeping its other query `arguments`
    (the jobs list's filters), as the pager macro takes them."""
    return {
        "previous_url": url_for(endpoint, **arguments, page=number - 1) if number > 1 else None,
        "next_url": url_for(endpoint, **arguments, page=number + 1) if has_next else None,
    }
