"""Where the key may go: https (or loopback http) to the configured origin, and nowhere else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

import asa_bulk
from asa_bulk._errors import ConfigError
from asa_bulk._settings import Settings, resolve_settings
from asa_bulk.sandbox import make_test_keys
from tests.support.fakeapi import any_request_recorded

KEY = make_test_keys(1, seed=5)[0]
SECRET_PART = KEY[21:]


def settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    return resolve_settings(overrides, environ=environ or {}, env_file=None)


@pytest.mark.parametrize(
    "url",
    [
        "http://api.example.com",
        "http://10.0.0.5:8080",
        "HTTP://api.example.com",  # the scheme's case is no way around it
        "http://[2001:db8::1]:8080",
        "http://localhost.example.com",
        "http://127.0.0.1.example.com",
    ],
)
def test_plain_http_to_another_host_is_refused(url: str) -> None:
    with pytest.raises(ConfigError, match="allow_insecure_http"):
        settings(base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.5.6.7",
        "http://[::1]:9000/",
        "http://localhost:1234",
        "http://LOCALHOST",
        "https://api.example.com",
        "HTTPS://api.example.com/",
        "  https://api.example.com/v1/  ",
    ],
)
def test_https_anywhere_and_plain_http_to_loopback_are_fine(url: str) -> None:
    base = settings(base_url=url).base_url
    assert base == base.strip().rstrip("/")
    assert base.startswith(("http://", "https://"))


def test_plain_http_elsewhere_needs_an_explicit_opt_in() -> None:
    url = "http://api.example.com"
    assert settings(base_url=url, allow_insecure_http=True).base_url == url
    for text in ("1", "true", "YES", "True"):
        assert settings({"ASA_ALLOW_INSECURE_HTTP": text}, base_url=url).allow_insecure_http
    for text in ("0", "false", "No"):
        with pytest.raises(ConfigError, match="allow_insecure_http"):
            settings({"ASA_ALLOW_INSECURE_HTTP": text}, base_url=url)
    with pytest.raises(ConfigError, match=r"^ASA_ALLOW_INSECURE_HTTP='maybe'"):
        settings({"ASA_ALLOW_INSECURE_HTTP": "maybe"})
    with pytest.raises(ConfigError, match=r"^allow_insecure_http must be True or False"):
        settings(allow_insecure_http="yes")
    assert Settings().allow_insecure_http is False


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:s3cretpassw0rd@api.example.com", "credentials"),
        ("http://admin:s3cretpassw0rd@127.0.0.1:8080", "credentials"),
        ("admin:s3cretpassw0rd@api.example.com", "credentials"),
        pytest.param(
            f"https://api.example.com/?api_key={KEY}", "query string or fragment", id="key-in-query"
        ),
        ("https://api.example.com/#s3cretpassw0rd", "query string or fragment"),
        ("https://api.example.com?", "query string or fragment"),
        ("https://api.example.com:99999", "port"),
        ("https://api.example.com:80a", "port"),
        ("https://api.exa mple.com", "whitespace"),
        ("https://api.example.com/\tv1", "whitespace"),
        ("https://", "host"),
        ("http:///api", "host"),
        ("https://[::1", "not a valid URL"),
        ("ftp://api.example.com", "http:// or https://"),
        ("api.example.com", "http:// or https://"),
    ],
)
def test_a_malformed_base_url_is_a_clear_error_that_echoes_no_secret(
    url: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        settings(base_url=url)
    assert type(info.value) is ConfigError
    assert "s3cretpassw0rd" not in str(info.value)
    assert SECRET_PART not in str(info.value)


async def test_an_insecure_base_url_stops_the_run_before_anything_is_sent() -> None:
    with any_request_recorded() as sent, pytest.raises(ConfigError, match="allow_insecure_http"):
        await asa_bulk.fetch_products(
            ["B000000001"], keys=[KEY], base_url="http://api.example.com", progress=False
        )
    assert sent == []


# -- redirects ----------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def loopback_server(handler: Any) -> AsyncIterator[str]:
    """A small aiohttp server on 127.0.0.1 answering every GET with ``handler``; yields its URL."""
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("status", "auth", "location"),
    [
        (302, "query", "{target}/api/v1/amazon/product?{query}"),
        (301, "query", "{target}/api/v1/amazon/product?{query}"),
        (307, "query", "{target}/api/v1/amazon/product?{query}"),
        (308, "bearer", "{target}/api/v1/amazon/product?{query}"),
        (302, "query", "/api/v2/amazon/product?{query}"),  # same host, elsewhere
    ],
)
async def test_a_redirect_is_never_followed_and_the_key_stays_home(
    status: int, auth: str, location: str
) -> None:
    contacted: list[str] = []
    redirected: list[str] = []

    async def target(request: web.Request) -> web.Response:
        contacted.append(str(request.rel_url))
        return web.json_response({"asin": "B000000001", "title": "a product from elsewhere"})

    async def redirect(request: web.Request) -> web.Response:
        redirected.append(request.path)
        if request.path != "/api/v1/amazon/product":
            return await target(request)  # the same-host case: its other path is "elsewhere"
        where = location.format(target=target_url, query=request.query_string)
        return web.Response(status=status, headers={"Location": where})

    async with loopback_server(target) as target_url, loopback_server(redirect) as base_url:
        df = await asa_bulk.fetch_products(
            ["B000000001"],
            keys=[KEY],
            base_url=base_url,
            auth=auth,
            progress=False,
            env_file=None,
            retry_delay_scale=0.0,
        )
    assert contacted == []
    assert redirected == ["/api/v1/amazon/product"]  # sent once, not retried
    row = df.iloc[0]
    assert (row["status"], row["error"], row["http_status"], row["attempts"]) == (
        "failed",
        "redirect",
        status,
        1,
    )
    message = row["error_message"]
    assert "not followed" in message
    if location.startswith("{target}"):
        assert target_url in message  # where it pointed: scheme and host only
    for text in (message, df.to_json(default_handler=str, date_format="iso"), repr(df.attrs)):
        assert KEY not in text
        assert SECRET_PART not in text
        assert "api_key" not in text
        assert "query=" not in text
