"""The flat catalogue (``flat_catalog=True``): a benchmark mode whose CPU per request is O(1).

The stock catalogue generates every ASIN's product and caches 65,536 bodies, so a run over more
unique ASINs regenerates each body (255-270 µs of sandbox CPU per request instead of ~100 µs)
and a scale benchmark partly measures the sandbox. Here each of the 8 product families has
:data:`POOL` template products, rendered once per (marketplace, shape, ``add_html``) on first
use; a request is answered with its family's template picked by a CRC-32 of the ASIN, the
template's placeholder ASIN replaced by the requested one at byte level. Same documented shape
(the templates are ordinary generated products), same family and marketplace currency, identical
bytes for identical requests; what differs from stock is that ASINs sharing a template share
its title, price, rating, siblings and parent. The 404 rules are unchanged.
"""

from __future__ import annotations

import zlib
from typing import Any, Final

from ._bodies import Catalog
from ._catalog import ALNUM, kind_index
from ._products import Shape, render_product, summary
from ._settings import ProductShape

#: Templates per product family: 8 x 64 = 512 distinct bodies per marketplace and shape.
POOL: Final = 64

_Key = tuple[int, int, str, Shape, bool]


def placeholder(kind: int, slot: int) -> str:
    """The ASIN a template is rendered for: ``B0`` + the family's character + ``FLAT`` + slot
    (a valid ASIN of that family, never ending in ``404``, and unlike any generated string)."""
    return f"B0{ALNUM[kind]}FLAT{slot:03d}"


def slot_of(asin: str) -> tuple[int, int]:
    """``(family, template slot)`` serving ``asin``."""
    return kind_index(asin), zlib.crc32(asin.encode()) % POOL


class FlatCatalog(Catalog):
    """Products from a fixed pool of templates; see the module docstring."""

    def __init__(self, product_shape: ProductShape) -> None:
        super().__init__(product_shape)
        # Template bytes split at the placeholder: a request joins them with its ASIN.
        self._templates: dict[_Key, list[bytes]] = {}
        self._summaries: dict[tuple[int, int, str], dict[str, Any]] = {}

    @property
    def templates_rendered(self) -> int:
        """Templates generated so far (at most 8 x POOL per marketplace, shape, ``add_html``)."""
        return len(self._templates)

    def product(self, asin: str, domain: str, add_html: bool = False) -> bytes:
        # ``asin`` is validated ([A-Z0-9]{10}): nothing in it needs escaping in JSON or HTML.
        kind, slot = slot_of(asin)
        key = (kind, slot, domain, self.shape(asin), add_html)
        parts = self._templates.get(key)
        if parts is None:
            parts = self._templates[key] = self._render(key)
        return asin.encode().join(parts)

    @staticmethod
    def _render(key: _Key) -> list[bytes]:
        kind, slot, domain, shape, add_html = key
        fake = placeholder(kind, slot)
        parts = render_product(fake, domain, shape, add_html).split(fake.encode())
        if len(parts) < 2:  # the body must name its ASIN, or the substitution would be silent
            raise RuntimeError(f"template {fake} does not contain its ASIN")
        return parts

    def summary(self, asin: str, domain: str) -> dict[str, Any]:
        kind, slot = slot_of(asin)
        key = (kind, slot, domain)
        found = self._summaries.get(key)
        if found is None:
            found = self._summaries[key] = summary(placeholder(kind, slot), domain)
        return dict(found)
