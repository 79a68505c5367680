"""Fixtures for the sandbox tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client session for the test's event loop."""
    async with aiohttp.ClientSession() as session:
        yield session
