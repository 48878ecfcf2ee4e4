"""HTTP health probes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported on first probe: that overlaps the first child's start-up
    import httpx

_client: httpx.AsyncClient | None = None


def _shared_client() -> httpx.AsyncClient:
    import httpx

    global _client
    if _client is None or _client.is_closed:
        # Probes are plain http on loopback: verify=False spares loading the CA bundle.
        _client = httpx.AsyncClient(trust_env=False, verify=False)
    return _client


async def probe(url: str, expected_status: int, timeout: float) -> tuple[bool, str]:
    """Whether ``GET url`` answers ``expected_status`` within ``timeout`` seconds, and if
    not, what happened instead (one short line: ``connection refused``, ``status 500``)."""
    import httpx

    try:
        response = await _shared_client().get(url, timeout=timeout)
    except httpx.TimeoutException:
        return False, f"no answer within {timeout:g}s"
    except httpx.ConnectError:
        return False, "connection refused"
    except httpx.HTTPError as exc:
        return False, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if response.status_code == expected_status:
        return True, ""
    return False, f"status {response.status_code} (expected {expected_status})"


async def close_probes() -> None:
    global _client
    if _client is not None:
        await _client.aclose()
        _client = None
