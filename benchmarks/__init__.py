"""asa_bulk's benchmark suite: ``python -m benchmarks [--smoke] [--only NAME] [--big]``.

One module per question of issue 6, each with ``run(smoke) -> list[dict]`` (table rows),
``COLUMNS``, ``TITLE`` and ``headline(rows)`` (summary lines): ``ceiling`` (efficiency against
the keys' limits), ``overhead`` (vs a bare aiohttp loop, ``baseline_aiohttp``), ``sdk`` (vs the
provider's official client), ``memory`` (CLI peak RSS, ``frame_build``), ``startup`` (import
time, time to first request), ``scale`` (issue 10: memory and CPU per item from 10k to 1M items,
``--sizes`` to pick others). Results of a full run are kept in ``benchmarks/RESULTS.md``.
"""
