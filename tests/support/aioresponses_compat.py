"""aioresponses 0.7.9 against aiohttp 3.14: give the mocked responses the writer they now need."""

from __future__ import annotations


def patch_aioresponses_for_aiohttp_314() -> None:
    """aioresponses 0.7.9 builds responses without the ``stream_writer`` argument that aiohttp
    3.14 made required (pnuckowski/aioresponses#289, fix pending in PR #288). aiohttp 3.14 is a
    security release, so rather than pin aiohttp below it, give the mock a stand-in writer."""
    import inspect

    import aioresponses.core
    from aiohttp import ClientResponse

    if "stream_writer" not in inspect.signature(ClientResponse.__init__).parameters:
        return

    class _SentWriter:
        output_size = 0  # the mocked request is already "sent"

    class _CompatResponse(ClientResponse):
        def __init__(self, method: str, url: object, **kwargs: object) -> None:
            kwargs.setdefault("stream_writer", _SentWriter())
            super().__init__(method, url, **kwargs)  # type: ignore[arg-type]

    aioresponses.core.ClientResponse = _CompatResponse  # type: ignore[attr-defined]
