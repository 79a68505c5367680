"""The library never imports the sandbox (or the CLI): only ``asa_bulk.cli`` may use them."""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys
import textwrap

import asa_bulk

#: Library modules: everything directly in ``asa_bulk/``, except the command-line entry point.
LIBRARY = sorted(
    f"asa_bulk.{m.name}"
    for m in pkgutil.iter_modules(asa_bulk.__path__)
    if not m.ispkg and m.name != "__main__"
)

# Imports every library module and every public name, then runs a real fetch against a bare
# aiohttp server on loopback (not the sandbox, which is what must stay unimported).
_SCRIPT = textwrap.dedent(
    """
    import asyncio, importlib, json, sys

    for name in sys.argv[1:]:
        importlib.import_module(name)
    import asa_bulk
    for name in asa_bulk.__all__:
        getattr(asa_bulk, name)

    from aiohttp import web

    async def product(request):
        asin = request.query["query"]
        return web.json_response({"asin": asin, "title": "T " + asin, "price": 1.5})

    async def main():
        app = web.Application()
        app.router.add_get("/api/v1/amazon/product", product)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            return await asa_bulk.fetch_products(
                ["B09HN3Q81F", "B0CX23V2ZK"],
                keys=["asa_live_AAAAAAAAAAAAsecretAsecre"],
                base_url=f"http://127.0.0.1:{port}",
                progress=False,
                env_file=None,
            )
        finally:
            await runner.cleanup()

    frame = asyncio.run(main())
    loaded = sorted(m for m in sys.modules if m.startswith(("asa_bulk.sandbox", "asa_bulk.cli")))
    print(json.dumps({"status": list(frame["status"]), "loaded": loaded}))
    """
)


def test_library_and_a_fetch_never_import_the_sandbox_or_the_cli() -> None:
    assert "asa_bulk._api" in LIBRARY  # the scan found the library
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *LIBRARY], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    assert seen["status"] == ["ok", "ok"]  # the fetch really ran
    assert seen["loaded"] == []


def test_demo_lives_with_the_cli() -> None:
    from asa_bulk.cli import _parser

    assert _parser.LAZY_COMMANDS["demo"][1] == "asa_bulk.cli._demo"
    assert importlib.util.find_spec("asa_bulk.demo") is None
