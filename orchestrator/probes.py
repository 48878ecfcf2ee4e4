"""HTTP health probes."""

from __future__ import annotations

import httpx

_client: httpx.AsyncClient | None = None


def _shared_client() -> httpx.AsyncClient:
    global _client
    if _client is None or _client.is_closed:
        _client = httpx.AsyncClient(trust_env=False)
    return _client


async def probe(url: str, expected_status: int, timeout: float) -> bool:
    """True when ``GET url`` answers ``expected_status`` within ``timeout`` seconds."""
    try:
        response = await _shared_client().get(url, timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == expected_status


async def close_probes() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None
