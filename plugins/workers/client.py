"""What other plugins (sagas, triggers, yours) use to run jobs: :class:`WorkersClient`.

It talks to the workers service's API (found through ``services__workers__http__0``, which
``netscript up`` gives every resource whose plugin depends on ``workers``) and waits for an
execution by following the stream ``/workers/executions``, not by polling the API: it
notes where the stream ends, reads the execution once from the API (so nothing published
before it began is missed), then follows the stream from that point.
"""

from __future__ import annotations

from typing import Any

from netscript import ApiClient, ApiError

from .machine import FINAL

DEFAULT_URL = "http://127.0.0.1:8091"
PREFIX = "/api/v1/workers"
STREAM = "/workers/executions"


class WorkersError(ApiError):
    """The workers service refused a request (``status``, ``code`` as in its API)."""


class WorkersClient(ApiClient):
    """Trigger, read, cancel and retry executions, and wait for one to end.

    Example::

        async with WorkersClient() as workers:
            started = await workers.trigger("charge-payment", {"amount": 5}, idempotency_key="o-1")
            done = await workers.wait(started["executionId"], timeout=60)
            print(done["status"], done["result"])
    """

    error = WorkersError

    service = "workers"
    default_url = DEFAULT_URL
    prefix = PREFIX

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
