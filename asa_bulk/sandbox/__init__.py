"""An offline Amazon Scraper API: a real aiohttp server with deterministic fixtures.

Use it to develop and test against the documented API without a key, credits or network::

    from asa_bulk.sandbox import serve, make_test_keys

    async with serve(fixed_latency=0, plan="free") as sb:
        key = make_test_keys(1)[0]
        ...  # GET f"{sb.base_url}/api/v1/amazon/product?query=B09HN3Q81F&api_key={key}"
        print(sb.stats.billed_total)

``serve_in_thread()`` does the same from sync code; the pytest plugin adds the ``asa_sandbox``
and ``asa_sandbox_factory`` fixtures; ``asa-bulk sandbox`` / ``python -m asa_bulk.sandbox``
serves from a shell. Names are imported lazily so that loading the pytest plugin (which lives
in this package) does not import aiohttp.

Documented fixture rules (deterministic, no network, no data files):

- A product is generated from a hash of ASIN + domain: identical requests get identical bytes,
  prices come in the marketplace's currency (JPY/INR as whole numbers), a few prices are null.
- An ASIN whose last three characters are ``404`` always answers 404 ``product_not_found``
  (``"retryable": false``); ``not_found_rate`` adds a hash-chosen share of ASIN+domain pairs.
- A search query containing ``zzzz`` answers 200 with ``products: []`` and ``no_results: true``.
- Only ``asa_test_`` + 24 letters/digits keys are accepted unless ``keys=[...]`` is given.
- Search results carry ASINs whose product pages agree with them (title, price, rating).
- Prices, stock lines and search rankings drift from day to day, each a function of the day
  (``today``: a setting, ``--today``, ``Sandbox.set_today``; default the real date), so the same
  day always gives the same bytes; 2026-05-15, the pytest fixtures' day, has no drift.

Benchmark mode, ``flat_catalog=True`` (``asa-bulk sandbox --flat-catalog``): product bodies come
from a fixed pool of pre-rendered templates with the ASIN substituted at byte level, so the
sandbox's CPU per request is the same at 10k or 1M unique ASINs. By default each ASIN's body is
generated and the last 65,536 are cached; a run over more unique ASINs costs the sandbox about
2.5x more CPU per request, and a scale benchmark would partly measure the sandbox. Same shape
and rules; ASINs that share a template share its title, price and rating.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from asa_bulk._lazy import lazy_exports

if TYPE_CHECKING:
    from ._auth import make_test_keys
    from ._command import add_sandbox_arguments, run_sandbox_command
    from ._serve import Sandbox, serve, serve_in_thread
    from ._settings import FAULT_STATUS, PLAN_LIMITS, KeyLimits, SandboxSettings
    from ._state import SandboxStats

__all__ = [
    "FAULT_STATUS",
    "PLAN_LIMITS",
    "KeyLimits",
    "Sandbox",
    "SandboxSettings",
    "SandboxStats",
    "add_sandbox_arguments",
    "make_test_keys",
    "run_sandbox_command",
    "serve",
    "serve_in_thread",
]

_HOME = {
    "FAULT_STATUS": "_settings",
    "PLAN_LIMITS": "_settings",
    "KeyLimits": "_settings",
    "Sandbox": "_serve",
    "SandboxSettings": "_settings",
    "SandboxStats": "_state",
    "add_sandbox_arguments": "_command",
    "make_test_keys": "_auth",
    "run_sandbox_command": "_command",
    "serve": "_serve",
    "serve_in_thread": "_serve",
}


__getattr__, __dir__ = lazy_exports(__name__, _HOME)
