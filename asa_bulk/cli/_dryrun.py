"""``--dry-run``: what a run would do, computed locally; nothing is sent."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Final, Protocol

from asa_bulk._checkpoint import SqliteCheckpoint
from asa_bulk._errors import ConfigError
from asa_bulk._inputs import iter_input_rows
from asa_bulk._keys import ApiKey
from asa_bulk._records import CREDITS_PER_REQUEST, Request
from asa_bulk._settings import Settings

from ._readers import InputTable

SHOWN_INVALID: Final = 20


class InputRow(Protocol):
    """A row the engine would send (or refuse): a product's, or one page of a query."""

    @property
    def index(self) -> int: ...
    @property
    def request(self) -> Request | None: ...
    @property
    def error(self) -> str | None: ...
    @property
    def message(self) -> str | None: ...


#: The engine's input rows of a table's frame, under the run's settings.
RowsOf = Callable[[Any, Settings], Iterable[InputRow]]


def product_rows(frame: Any, settings: Settings) -> Iterable[InputRow]:
    return iter_input_rows(
        frame, domain=settings.domain, language=settings.language, country=settings.country
    )


_ROW_PREFIX: Final = re.compile(r"^row \d+: ")


@dataclass
class DryRun:
    """The figures ``--dry-run`` prints (and writes with ``--report``)."""

    source: str
    unit: str = "product"  # what a request buys: a product, or a page of results
    item_label: str = "items"
    items: int = 0
    unique_requests: int = 0
    duplicates: int = 0
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # (where, code, message)
    already_done: int = 0
    to_send: int = 0
    worst_case_credits: int = 0
    max_credits: int | None = None
    key_ids: list[str] = field(default_factory=list)
    key_error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": True,
            "source": self.source,
            "items": self.items,
            "unique_requests": self.unique_requests,
            "duplicates": self.duplicates,
            "invalid": len(self.invalid),
            "invalid_rows": [
                {"where": where, "error": code, "message": message}
                for where, code, message in self.invalid
            ],
            "from_checkpoint": self.already_done,
            "to_send": self.to_send,
            "worst_case_credits": self.worst_case_credits,
            "max_credits": self.max_credits,
            "keys": self.key_ids,
            "key_error": self.key_error,
        }

    def render(self) -> str:
        lines = [
            f"input: {self.source}",
            f"{self.item_label}: {self.items}",
            f"unique requests: {self.unique_requests}",
            f"duplicates: {self.duplicates} (requested once, result copied)",
            f"invalid rows: {len(self.invalid)} (never sent)",
        ]
        for where, code, message in self.invalid[:SHOWN_INVALID]:
            lines.append(f"  {where}: {code}: {message}")
        if len(self.invalid) > SHOWN_INVALID:
            lines.append(f"  ... and {len(self.invalid) - SHOWN_INVALID} more")
        if self.already_done:
            lines.append(f"already done in the checkpoint: {self.already_done} (not sent again)")
        lines.append(f"requests to send: {self.to_send}")
        cost = f"worst-case cost: {self.worst_case_credits} credits"
        cost += f" ({CREDITS_PER_REQUEST} per successful {self.unit}; failures are free)"
        lines.append(cost)
        if self.max_credits is not None and self.max_credits < self.worst_case_credits:
            most = self.max_credits // CREDITS_PER_REQUEST
            lines.append(
                f"--max-credits {self.max_credits}: at most {most} requests will be started; "
                "the rest will be skipped (exit code 1)"
            )
        if self.key_error:
            lines.append(f"keys: none usable: {self.key_error}")
        else:
            lines.append(f"keys: {len(self.key_ids)} ({', '.join(self.key_ids)})")
        lines.append("nothing was sent (dry run)")
        return "\n".join(lines)


def _done_idents(path: str | None) -> set[str]:
    if path is None or not Path(path).exists():
        return set()
    with SqliteCheckpoint(path) as store:
        return {r.request.ident for r in store.load() if r.final}


def dry_run(
    table: InputTable,
    *,
    settings: Settings,
    keys: Sequence[ApiKey] | ConfigError,
    checkpoint: str | None,
    rows_of: RowsOf = product_rows,
    unit: str = "product",
    item_label: str = "items",
) -> DryRun:
    """Validate every row and the keys' format and count what a real run would send.

    ``keys`` is what resolving them gave: the keys, or the error a real run would stop with.
    ``rows_of`` gives the engine's rows of the table: one per product, or one per page of a
    query (``unit`` and ``item_label`` name them); an input row is a duplicate when every
    request it needs is already counted.
    """
    result = DryRun(
        source=table.source, unit=unit, item_label=item_label, max_credits=settings.max_credits
    )
    requests: set[Request] = set()
    for index, group in _input_rows(rows_of(table.frame, settings)):
        result.items += 1
        first = group[0]
        if first.request is None:
            message = _ROW_PREFIX.sub("", first.message or "")
            result.invalid.append((table.where(index), first.error or "invalid", message))
            continue
        needed = {row.request for row in group if row.request is not None}
        if needed <= requests:
            result.duplicates += 1
        requests |= needed
    done = _done_idents(checkpoint)
    result.unique_requests = len(requests)
    result.already_done = sum(1 for request in requests if request.ident in done)
    result.to_send = result.unique_requests - result.already_done
    result.worst_case_credits = result.to_send * CREDITS_PER_REQUEST
    if isinstance(keys, ConfigError):
        result.key_error = str(keys)
    else:
        result.key_ids = [key.key_id for key in keys]
    return result


def _input_rows(rows: Iterable[InputRow]) -> Iterator[tuple[int, list[InputRow]]]:
    """The engine's rows grouped by input row (a query's pages are consecutive)."""
    for index, group in groupby(rows, key=lambda row: row.index):
        yield index, list(group)
