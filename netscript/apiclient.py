"""The client side of a plugin's HTTP API (what the workers and sagas clients and commands are
built on, and yours may be): the service's URL from the environment ``netscript up`` gives,
JSON calls whose errors (``{"error": {"code", "message"}}``) raise one exception, and the
plumbing of a ``netscript <plugin> ...`` command that uses the client.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import httpx

ClientT = TypeVar("ClientT", bound="ApiClient")


class ApiError(Exception):
    """A service refused a request (``status``, and ``code`` as in its API)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        self.status = status
        self.code = code
        super().__init__(f"{status} {code}: {message}")


def service_url(name: str, default: str, environ: Mapping[str, str] | None = None) -> str:
    """``<NAME>_URL``, else ``services__<name>__http__0`` (what ``netscript up`` gives a
    dependent), else ``default``."""
    env = os.environ if environ is None else environ
    for variable in (f"{name.upper()}_URL", f"services__{name}__http__0"):
        value = env.get(variable, "").strip()
        if value:
            return value.rstrip("/")
    return default


class ApiClient:
    """An async JSON client of a plugin's service at ``base_url + prefix``; a refusal raises
    ``error``. A subclass names its ``service`` (so ``base_url`` defaults to
    :func:`service_url`), its ``default_url`` and its API's ``prefix``.

    Example::

        class OrdersClient(ApiClient):
            error = OrdersError
            service, default_url, prefix = "orders", "http://127.0.0.1:8100", "/api/v1/orders"
    """

    error: type[ApiError] = ApiError
    service = ""
    default_url = ""
    prefix = ""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        streams_url: str | None = None,
        streams_headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.base_url = (base_url or service_url(self.service, self.default_url)).rstrip("/")
        self.streams_url = streams_url
        self.streams_headers = dict(streams_headers) if streams_headers is not None else None
        self._http = httpx.AsyncClient(
            base_url=self.base_url + self.prefix,
            timeout=timeout,
            verify=not self.base_url.startswith("http://"),
        )

    async def __aenter__(self: ClientT) -> ClientT:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """The answer to ``method path``; a status of 400 or more raises ``error``."""
        response = await self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            try:
                body = response.json()["error"]
                code, message = str(body["code"]), str(body["message"])
            except (ValueError, KeyError, TypeError):
                code, message = "http-error", response.text[:200]
            raise self.error(response.status_code, code, message)
        return response

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """The JSON object answering ``method path``."""
        body = (await self._send(method, path, **kwargs)).json()
        assert isinstance(body, dict)
        return body


def run_client_command(
    args: argparse.Namespace,
    *,
    service: str,
    make_client: Callable[..., ClientT],
    command: Callable[[ClientT, argparse.Namespace], Awaitable[int]],
) -> int:
    """Run a ``netscript <plugin> ...`` command's ``command(client, args)``: the client
    talks to ``--url``, else the running app's ``service`` resource; a refusal, a timeout
    or an unreachable service is one line on stderr (a :class:`HostError`)."""
    import asyncio

    from netscript.host.errors import HostError

    async def run() -> int:
        context = getattr(args, "netscript", None)
        url = args.url or (context.resource_url(service) if context is not None else None)
        streams = context.streams_url if context is not None else None
        headers = dict(context.streams_headers) if context is not None and streams else None
        client = make_client(url, streams_url=streams, streams_headers=headers)
        try:
            return await command(client, args)
        except (ApiError, TimeoutError) as exc:
            raise HostError(str(exc)) from None
        except httpx.TransportError as exc:
            where = f"the {service} service at {client.base_url}"
            raise HostError(f"cannot reach {where}: {exc}") from None
        finally:
            await client.close()

    return asyncio.run(run())


def json_argument(name: str, raw: str) -> Any:
    """A command's ``--name`` option given as JSON, parsed.

    :raises HostError: it is not JSON (one line naming the option).
    """
    from netscript.host.errors import HostError

    try:
        return json.loads(raw)
    except ValueError as exc:
        raise HostError(f"--{name} is not JSON: {exc}") from None


def print_result(args: argparse.Namespace, data: Any, table: Callable[[], None]) -> None:
    """``data`` as JSON with ``--json``, else ``table()``."""
    if args.json:
        json.dump(data, sys.stdout, indent=2)
        print()
    else:
        table()
