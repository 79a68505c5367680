"""The values that flow between the stages: one unique lookup and its final result."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

Status = Literal["ok", "not_found", "invalid", "failed", "skipped"]

#: Statuses that are final for a given request: a resumed run does not send these again.
DONE_STATUSES: Final = frozenset({"ok", "not_found", "invalid"})

#: Errors of answers that were billed all the same (a 2xx whose body is unusable): final too,
#: since sending them again would be billed again.
BILLED_ERRORS: Final = frozenset({"invalid_response"})

#: Credits the service bills for one 2xx product response (only 2xx is billed).
CREDITS_PER_REQUEST: Final = 5


@dataclass(frozen=True, slots=True)
class LookupRequest:
    """One unique product lookup: what is sent to the API (duplicates share one request)."""

    asin: str
    domain: str = "com"
    language: str | None = None
    country: str | None = None

    def params(self) -> dict[str, str]:
        """Query parameters for ``GET /api/v1/amazon/product`` (auth not included)."""
        out = {"query": self.asin, "domain": self.domain}
        if self.language:
            out["language"] = self.language
        if self.country:
            out["country"] = self.country
        return out

    @property
    def ident(self) -> str:
        """A stable text key for checkpoints: ``asin|domain|language|country``."""
        return "|".join((self.asin, self.domain, self.language or "", self.country or ""))


@dataclass(slots=True)
class ResultRecord:
    """The final outcome of one unique request (or of one invalid input row).

    ``product`` holds the decoded JSON body of a 2xx answer, untouched; flattening into columns
    happens only when the DataFrame is built.
    """

    request: LookupRequest
    status: Status
    error: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    attempts: int = 0
    key_id: str | None = None
    request_id: str | None = None
    latency_ms: float | None = None
    fetched_at: datetime | None = None
    product: dict[str, Any] | None = None

    @property
    def billed(self) -> bool:
        """True when the service billed this result (a 2xx answer)."""
        return self.status == "ok" or self.error in BILLED_ERRORS

    @property
    def final(self) -> bool:
        """True when a resumed run must not send this request again."""
        return self.status in DONE_STATUSES or self.error in BILLED_ERRORS

    def to_json(self) -> dict[str, Any]:
        """A JSON-serialisable dict (used by checkpoints and JSON lines output).

        Shallow on purpose: the product body is shared, not deep-copied as
        ``dataclasses.asdict`` would, which was the main cost of writing a checkpoint.
        """
        out = {field.name: getattr(self, field.name) for field in _RECORD_FIELDS}
        out["request"] = {
            field.name: getattr(self.request, field.name) for field in _REQUEST_FIELDS
        }
        out["fetched_at"] = self.fetched_at.isoformat() if self.fetched_at else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultRecord:
        """Inverse of :meth:`to_json`."""
        fields = dict(data)
        fields["request"] = LookupRequest(**fields["request"])
        fetched = fields.get("fetched_at")
        fields["fetched_at"] = datetime.fromisoformat(fetched) if fetched else None
        return cls(**fields)


_RECORD_FIELDS: Final = dataclasses.fields(ResultRecord)
_REQUEST_FIELDS: Final = dataclasses.fields(LookupRequest)
