"""What other plugins (sagas, triggers, yours) use to run jobs: :class:`WorkersClient`.

It talks to the workers service's API (found through ``services__workers__http__0``, which
``netscript up`` gives every resource whose plugin depends on ``workers``) and waits for an
execution by following the stream ``/workers/executions``, not by polling the API: it
notes where the stream ends, reads the execution once from the API (so nothing published
before it began is missed), then follows the stream from that point.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import httpx

from .machine import FINAL

DEFAULT_URL = "http://127.0.0.1:8091"
PREFIX = "/api/v1/workers"
STREAM = "/workers/executions"


class WorkersError(Exception):
    """The workers service refused a request (``status``, ``code`` as in its API)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"{status} {code}: {message}")


def workers_url(environ: Mapping[str, str] | None = None) -> str:
    """``WORKERS_URL``, else ``services__workers__http__0``, else http://127.0.0.1:8091."""
    env = os.environ if environ is None else environ
    for name in ("WORKERS_URL", "services__workers__http__0"):
        value = env.get(name, "").strip()
        if value:
            return value.rstrip("/")
    return DEFAULT_URL


class WorkersClient:
    """Trigger, read, cancel and retry executions, and wait for one to end.

    Example::

        async with WorkersClient() as workers:
            started = await workers.trigger("charge-payment", {"amount": 5}, idempotency_key="o-1")
            done = await workers.wait(started["executionId"], timeout=60)
            print(done["status"], done["result"])
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        streams_url: str | None = None,
        streams_headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = (base_url or workers_url()).rstrip("/")
        self.streams_url = streams_url
        self.streams_headers = dict(streams_headers) if streams_headers is not None else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + PREFIX,
            timeout=timeout,
            verify=not self.base_url.startswith("http://"),
        )

    async def __aenter__(self) -> WorkersClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()["error"]
                raise WorkersError(response.status_code, body["code"], body["message"])
            except (ValueError, KeyError, TypeError):
                raise WorkersError(
                    response.status_code, "http-error", response.text[:200]
                ) from None
        body = response.json()
        assert isinstance(body, dict)
        return body

    async def trigger(
        self,
        job: str,
        payload: Any = None,
        *,
        idempotency_key: str | None = None,
        priority: int | None = None,
        delay: float = 0.0,
        correlation_id: str | None = None,
    ) -> dict[str, Any]:
        """``{"executionId", "status", "deduplicated"}``."""
        body: dict[str, Any] = {"payload": payload, "delay": delay}
        if idempotency_key is not None:
            body["idempotencyKey"] = idempotency_key
        if priority is not None:
            body["priority"] = priority
        if correlation_id is not None:
            body["correlationId"] = correlation_id
        return await self._call("POST", f"/jobs/{job}/trigger", json=body)

    async def get(self, execution_id: str) -> dict[str, Any]:
        """The execution, with its attempts."""
        return await self._call("GET", f"/executions/{execution_id}")

    async def cancel(self, execution_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/executions/{execution_id}/cancel")

    async def retry(self, execution_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/executions/{execution_id}/retry")

    async def jobs(self) -> list[dict[str, Any]]:
        jobs = (await self._call("GET", "/jobs"))["jobs"]
        assert isinstance(jobs, list)
        return jobs

    async def executions(self, **query: Any) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        return await self._call("GET", "/executions", params=params)

    async def wait(self, execution_id: str, timeout: float) -> dict[str, Any]:
        """The execution once it is final (``completed``, ``failed``, ``timeout``,
        ``cancelled``), following the stream.

        :raises TimeoutError: it is not final within ``timeout`` seconds.
        """
        from netscript import wait_for_entity

        return await wait_for_entity(
            STREAM,
            type="execution",
            key=execution_id,
            read=lambda: self.get(execution_id),
            done=lambda value: value.get("status") in FINAL,
            timeout=timeout,
            streams_url=self.streams_url,
            headers=self.streams_headers,
        )
