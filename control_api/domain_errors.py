"""The refusals services raise, in the service's own words: no HTTP below the views.

`code` names the refusal for clients (it is the API's error code), `message` says it to a person
and names the field at fault. Which HTTP status each kind becomes is decided in one place,
control_api/errors.py; the dashboard shows the same message on its form."""
from __future__ import annotations


class DomainError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class Invalid(DomainError):
    """The request names something that cannot be, e.g. a domain that is not a host name."""


class NotAllowed(DomainError):
    """Well formed, but refused by policy, e.g. a crawl target in the service's own network."""


class NotFound(DomainError):
    """No such thing, or not this organisation's."""


class Conflict(DomainError):
    """Refused because of the state things are in, e.g. a crawl of that domain is running already."""


class Gone(DomainError):
    """It was there and has been deleted, e.g. per-URL results removed by retention."""


class Unavailable(DomainError):
    """A component the service needs (a scrapyd node) did not do its part; trying later may work."""
