"""What other plugins and commands use to see and drive the triggers service:
:class:`TriggersClient`.

It talks to the triggers service's API (found through ``services__triggers__http__0``,
which ``netscript up`` gives every resource whose plugin depends on ``triggers``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from netscript import ApiClient, ApiError

DEFAULT_URL = "http://127.0.0.1:8093"
PREFIX = "/api/v1/triggers"


class TriggersError(ApiError):
    """The triggers service refused a request (``status``, ``code`` as in its API)."""


class TriggersClient(ApiClient):
    """List triggers, fire one by hand, read events, replay a dead-lettered one.

    Example::

        async with TriggersClient() as triggers:
            event = await triggers.fire("cleanup", {"reason": "by hand"})
            print(event["eventId"], event["status"])
    """

    error = TriggersError

    service = "triggers"
    default_url = DEFAULT_URL
    prefix = PREFIX

    async def triggers(self) -> list[dict[str, Any]]:
        found = (await self._call("GET", "/triggers"))["triggers"]
        assert isinstance(found, list)
        return found

    async def trigger(self, trigger_id: str) -> dict[str, Any]:
        return await self._call("GET", f"/triggers/{quote(trigger_id, safe='')}")

    async def fire(self, trigger_id: str, payload: Any = None) -> dict[str, Any]:
        """The event stored (``202``); it runs right after."""
        path = f"/triggers/{quote(trigger_id, safe='')}/fire"
        return await self._call("POST", path, json={"payload": payload})

    async def enable(self, trigger_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/triggers/{quote(trigger_id, safe='')}/enable")

    async def disable(self, trigger_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/triggers/{quote(trigger_id, safe='')}/disable")

    async def events(self, **query: Any) -> dict[str, Any]:
        """``{"events": [...], "nextCursor"}``, newest first (``trigger``, ``status``,
        ``limit``, ``cursor``)."""
        params = {k: v for k, v in query.items() if v is not None}
        return await self._call("GET", "/events", params=params)

    async def event(self, event_id: str) -> dict[str, Any]:
        """The event, with its attempts (``history``)."""
        return await self._call("GET", f"/events/{quote(event_id, safe='')}")

    async def replay(self, event_id: str) -> dict[str, Any]:
        return await self._call("POST", f"/events/{quote(event_id, safe='')}/replay")
