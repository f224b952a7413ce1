"""What the webhook sender (control_api/webhooks/sender.py) has in flight, per endpoint and per
organisation, so that it takes no message whose endpoint or organisation is at its cap
(WEBHOOK_ATTEMPTS_PER_ENDPOINT, WEBHOOK_ATTEMPTS_PER_ORGANISATION). Counted per sender process:
several senders (one per API host) each keep their own counts."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Taken:
    """A message leased to this sender, with what its attempt counts against."""

    message_id: str
    endpoint_id: str
    organisation_id: int


@dataclass
class InFlight:
    """Attempts running now, per endpoint and per organisation."""

    per_endpoint: int
    per_organisation: int
    endpoints: Counter = field(default_factory=Counter)
    organisations: Counter = field(default_factory=Counter)

    def has_room(self, endpoint_id: str, organisation_id: int) -> bool:
        return (self.endpoints[endpoint_id] < self.per_endpoint
                and self.organisations[organisation_id] < self.per_organisation)  # fmt: skip

    def add(self, taken: Taken) -> None:
        self.endpoints[taken.endpoint_id] += 1
        self.organisations[taken.organisation_id] += 1

    def remove(self, taken: Taken) -> None:
        self.endpoints[taken.endpoint_id] -= 1
        self.organisations[taken.organisation_id] -= 1

    def copy(self) -> InFlight:
        return InFlight(self.per_endpoint, self.per_organisation, Counter(self.endpoints), Counter(self.organisations))

    def full_endpoints(self) -> list[str]:
        return [key for key, count in self.endpoints.items() if count >= self.per_endpoint]

    def full_organisations(self) -> list[int]:
        return [key for key, count in self.organisations.items() if count >= self.per_organisation]
