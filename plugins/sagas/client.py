"""What other plugins (triggers, yours) use to start sagas, publish messages and wait for an
instance: :class:`SagasClient`.

It talks to the sagas service's API (found through ``services__sagas__http__0``, which
``netscript up`` gives every resource whose plugin depends on ``sagas``) and waits for an
instance by following the stream ``/sagas/instances``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from netscript import ApiClient, ApiError

from .machine import FINAL

DEFAULT_URL = "http://127.0.0.1:8092"
PREFIX = "/api/v1/sagas"
STREAM = "/sagas/instances"


class SagasError(ApiError):
    """The sagas service refused a request (``status``, ``code`` as in its API)."""


class SagasClient(ApiClient):
    """Start instances, publish messages, read, cancel and resume instances, and wait for
    one to end.

    Example::

        async with SagasClient() as sagas:
            started = await sagas.start("fulfil-order", "o-1", {"orderId": "o-1"})
            done = await sagas.wait(started["instanceId"], timeout=120)
            print(done["status"], done["state"])
    """

    error = SagasError

    service = "sagas"
    default_url = DEFAULT_URL
    prefix = PREFIX

    async def definitions(self) -> list[dict[str, Any]]:
        found = (await self._call("GET", "/definitions"))["definitions"]
        assert isinstance(found, list)
        return found

    async def start(self, saga: str, correlation_key: str, input: Any = None) -> dict[str, Any]:
        """The new instance, or the existing one of that key (``created`` says which)."""
        response = await self._send(
            "POST",
            f"/definitions/{quote(saga, safe='')}/start",
            json={"correlationKey": correlation_key, "input": input},
        )
        return {**response.json(), "created": response.status_code == 201}

    async def get(self, instance_id: str) -> dict[str, Any]:
        """The instance, with its history."""
        return await self._call("GET", f"/instances/{quote(instance_id, safe='')}")

    async def instances(self, **query: Any) -> dict[str, Any]:
        params = {k: v for k, v in query.items() if v is not None}
        return await self._call("GET", "/instances", params=params)

    async def cancel(self, instance_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/instances/{quote(instance_id, safe='')}/cancel")

    async def resume(self, instance_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/instances/{quote(instance_id, safe='')}/resume")

    async def publish(
        self,
        type: str,
        correlation_key: str,
        payload: Any = None,
        *,
        saga: str | None = None,
        message_id: str | None = None,
    ) -> dict[str, Any]:
        """``{"messageSeq", "duplicate"}``."""
        body: dict[str, Any] = {"type": type, "correlationKey": correlation_key,
                                "payload": payload}  # fmt: skip
        if saga is not None:
            body["saga"] = saga
        if message_id is not None:
            body["messageId"] = message_id
        return await self._call("POST", "/publish", json=body)

    async def wait(self, instance_id: str, timeout: float) -> dict[str, Any]:
        """The instance once it is final (``completed``, ``failed``, ``cancelled``),
        following the stream.

        :raises TimeoutError: it is not final within ``timeout`` seconds.
        """
        from netscript import wait_for_entity

        return await wait_for_entity(
            STREAM,
            type="saga-instance",
            key=instance_id,
            read=lambda: self.get(instance_id),
            done=lambda value: value.get("status") in FINAL,
            timeout=timeout,
            streams_url=self.streams_url,
            headers=self.streams_headers,
        )
