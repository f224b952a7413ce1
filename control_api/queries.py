"""How services read an organisation's rows: one by its id (find_owned), and one page of a list
(paginate, which returns a Page). Every resource's service goes through these two, so a list counts,
orders and cuts the same way everywhere, and every look-up by id refuses the same inputs with the
resource's own NotFound (control_api/domain_errors.py), which control_api/errors.py makes a 404."""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Callable, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from control_api.base_schemas import Pagination

T = TypeVar("T")
Row = TypeVar("Row")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items, how many there are in all, and where the page starts."""

    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.items) < self.total

    def pagination(self) -> Pagination:
        """The `pagination` block of a list response."""
        return Pagination(limit=self.limit, offset=self.offset, total=self.total, has_next=self.has_next)

    def map(self, present: Callable[[T], Row]) -> Page[Row]:
        return replace(self, items=[present(item) for item in self.items])  # type: ignore[arg-type]


def paginate(session: Session, query: Select, limit: int, offset: int) -> Page[Any]:
    """`limit` rows of an ordered query from `offset`, and the count of all of them. A query of one
    entity or column gives its values; one of several gives row tuples."""
    total = session.scalar(query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None))
    cut = query.limit(limit).offset(offset)
    items = session.scalars(cut).all() if len(query.column_descriptions) == 1 else session.execute(cut).all()
    return Page(items=list(items), total=total or 0, limit=limit, offset=offset)


def find_owned(session: Session, model: type[T], organisation_id: int, row_id: str,
               not_found: Callable[[str], Exception], for_update: bool = False) -> T:
    """The organisation's row of `model` with this id; else raises `not_found(row_id)` (the
    resource's NotFound: another organisation's row is not found either)."""
    row = None
    if "\x00" not in row_id:  # no id has one, and PostgreSQL refuses NUL in a query parameter
        query = select(model).where(model.id == row_id, model.organisation_id == organisation_id)  # type: ignore[attr-defined]
        if for_update:
            query = query.with_for_update(of=model)
        row = session.scalars(query).one_or_none()
    if row is None:
        raise not_found(row_id)
    return row
