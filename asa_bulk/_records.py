"""The values that flow between the stages: one unique request and its final result.

They know nothing about any one endpoint beyond what a request says about itself: the path it
is sent to, its query parameters, what it costs in credits and a stable text identity. Product
lookups are :class:`ProductRequest`; further endpoints add their own request type and register
it in :data:`REQUEST_TYPES`, and the runner, plan, checkpoint and budget serve them unchanged.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Final, Literal, Protocol

Status = Literal["ok", "not_found", "invalid", "failed", "skipped"]

#: Statuses that are final for a given request: a resumed run does not send these again.
DONE_STATUSES: Final = frozenset({"ok", "not_found", "invalid"})

#: Errors of answers that were billed all the same (a 2xx whose body is unusable): final too,
#: since sending them again would be billed again.
BILLED_ERRORS: Final = frozenset({"invalid_response"})

PRODUCT_PATH: Final = "/api/v1/amazon/product"


class Request(Protocol):
    """What the engine needs of one unique request, whatever its endpoint (hashable)."""

    #: Endpoint name, stored with the request in checkpoints (``"product"``).
    endpoint: ClassVar[str]
    #: URL path below the ``base_url``.
    path: ClassVar[str]
    #: Credits the service bills for a 2xx answer (only 2xx is billed).
    credits: ClassVar[int]

    def params(self) -> dict[str, str]:
        """Query parameters (auth not included)."""
        ...

    @property
    def ident(self) -> str:
        """A stable text key, unique across endpoints, for checkpoints and deduplication."""
        ...

    def __hash__(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ProductRequest:
    """One unique product lookup: what is sent to the API (duplicates share one request)."""

    endpoint: ClassVar[str] = "product"
    path: ClassVar[str] = PRODUCT_PATH
    credits: ClassVar[int] = 5

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
        """``asin|domain|language|country`` (the form checkpoints have always used)."""
        return "|".join((self.asin, self.domain, self.language or "", self.country or ""))


SEARCH_PATH: Final = "/api/v1/amazon/search"

#: ``sort_by`` values the search endpoint accepts (strict: ``price`` is a 400; §2.2).
SEARCH_SORTS: Final = ("best_match", "price_asc", "price_desc", "avg_customer_review", "newest")


@dataclass(frozen=True, slots=True)
class SearchRequest:
    """One result page of one keyword search. A page is billed as one request (§2.2), so it
    is sent, retried, checkpointed and budgeted on its own: a failed page 3 costs nothing
    again for pages 1 and 2, and a resumed run sends only the pages not yet stored."""

    endpoint: ClassVar[str] = "search"
    path: ClassVar[str] = SEARCH_PATH
    credits: ClassVar[int] = 5

    query: str
    domain: str = "com"
    sort_by: str = "best_match"
    page: int = 1

    def params(self) -> dict[str, str]:
        """Query parameters for ``GET /api/v1/amazon/search`` (auth not included): this page
        alone (``start_page``, ``pages=1``, both the defaults' documented names)."""
        out = {"query": self.query, "domain": self.domain}
        if self.sort_by != "best_match":
            out["sort_by"] = self.sort_by
        if self.page != 1:
            out["start_page"] = str(self.page)
        return out

    @property
    def ident(self) -> str:
        """``search|domain|sort_by|page|query``: the query last, so a ``|`` in it is harmless;
        never a product's (an ASIN has no ``|``)."""
        return "|".join(("search", self.domain, self.sort_by, str(self.page), self.query))


#: Request types by endpoint name, to read them back from a checkpoint.
REQUEST_TYPES: Final[dict[str, type[Any]]] = {
    ProductRequest.endpoint: ProductRequest,
    SearchRequest.endpoint: SearchRequest,
}

#: Credits of one billed product answer (kept for readers of the old name).
CREDITS_PER_REQUEST: Final = ProductRequest.credits


def request_to_json(request: Request) -> dict[str, Any]:
    """The request's fields and its endpoint name, as a JSON-ready dict."""
    out: dict[str, Any] = {"endpoint": request.endpoint}
    for field in dataclasses.fields(request):  # type: ignore[arg-type]
        out[field.name] = getattr(request, field.name)
    return out


def request_from_json(data: dict[str, Any]) -> Request:
    """Inverse of :func:`request_to_json`; a dict without ``endpoint`` is a product (v1)."""
    fields = dict(data)
    kind = REQUEST_TYPES.get(fields.pop("endpoint", ProductRequest.endpoint))
    if kind is None:
        raise ValueError(f"unknown endpoint {data.get('endpoint')!r}")
    request: Request = kind(**fields)
    return request


@dataclass(slots=True)
class ResultRecord:
    """The final outcome of one unique request (or of one invalid input row).

    ``body`` holds the decoded JSON body of a 2xx answer, untouched; flattening into columns is
    the frame builder's job.
    """

    request: Request
    status: Status
    error: str | None = None
    error_message: str | None = None
    http_status: int | None = None
    attempts: int = 0
    key_id: str | None = None
    request_id: str | None = None
    latency_ms: float | None = None
    fetched_at: datetime | None = None
    #: The server-side batch the request was submitted in (``mode="batch"``); None otherwise.
    #: Before ``body``: a checkpoint row keeps the body last (see ``_checkpoint_format``).
    batch_id: str | None = None
    body: dict[str, Any] | None = None
    #: The JSON text ``body`` was decoded from, as received (not part of :meth:`to_json`): a
    #: checkpoint stores it as it is instead of encoding the body again. Dropped with the body.
    body_json: bytes | None = dataclasses.field(default=None, repr=False, compare=False)

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

        Shallow on purpose: the body is shared, not deep-copied as ``dataclasses.asdict``
        would, which was the main cost of writing a checkpoint.
        """
        out = {field.name: getattr(self, field.name) for field in _RECORD_FIELDS}
        if out["batch_id"] is None:
            del out["batch_id"]  # a sync result's JSON stays what it always was
        out["request"] = request_to_json(self.request)
        out["fetched_at"] = self.fetched_at.isoformat() if self.fetched_at else None
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ResultRecord:
        """Inverse of :meth:`to_json` (also reads v1 records, whose body was ``product``)."""
        fields = dict(data)
        if "product" in fields:
            fields["body"] = fields.pop("product")
        fields["request"] = request_from_json(fields["request"])
        fetched = fields.get("fetched_at")
        fields["fetched_at"] = datetime.fromisoformat(fetched) if fetched else None
        return cls(**fields)


_RECORD_FIELDS: Final = tuple(f for f in dataclasses.fields(ResultRecord) if f.name != "body_json")
