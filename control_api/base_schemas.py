"""The models every resource's schemas build on: strict bodies, query strings that refuse what they
do not declare, the NUL guard, the error body, and pagination (a list's query and its response block).
"""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

# Far beyond any real row count, and small enough that (page-1)*limit stays a 64-bit SQL integer.
MAX_OFFSET = 10**12
MAX_PAGE = 10**9


def refuse_nul(value: str | None) -> str | None:
    # PostgreSQL text cannot hold U+0000: refuse it here (400) rather than fail in the database (500).
    if value is not None and "\x00" in value:
        raise ValueError("must not contain a NUL character (U+0000)")
    return value


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def comma_list(value: str | None, allowed: tuple[str, ...], name: str) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = tuple(item.strip() for item in value.split(","))
    unknown = [item for item in items if item not in allowed]
    if unknown:
        raise ValueError(f"unknown {name} {unknown[0]!r}; expected one of {', '.join(allowed)}")
    return items


class QueryModel(BaseModel):
    """A query string: values are coerced, not strict (everything arrives as text), and a parameter
    the endpoint does not declare is refused, never ignored (400 `unknown_parameter`)."""

    model_config = ConfigDict(extra="forbid")


class NoQuery(QueryModel):
    """The query string of an endpoint that takes no parameters: it must be empty."""


class ErrorBody(BaseModel):
    code: str
    message: str


class ErrorResponse(BaseModel):
    error: ErrorBody


class Pagination(BaseModel):
    limit: int
    offset: int
    total: int
    has_next: bool


class PageQuery(QueryModel):
    """Pagination shared by the list endpoints (each declares its own `limit`)."""

    limit: int
    offset: int = Field(0, ge=0, le=MAX_OFFSET)
    page: int | None = Field(None, ge=1, le=MAX_PAGE, description="1-based page; offset = (page-1)*limit.")

    @property
    def effective_offset(self) -> int:
        return (self.page - 1) * self.limit if self.page is not None else self.offset
