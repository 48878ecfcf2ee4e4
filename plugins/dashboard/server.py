"""The dashboard's web server (Quart): the pages, and a relay of the streams for the page.

The browser talks to this origin only. ``GET /?t=TOKEN`` trades the run's token for an
HttpOnly, SameSite=Strict cookie (then redirects to ``/``, so the token leaves the address
bar); every other page and stream needs the cookie, else 401 with a page that says how to get
the URL. The page's live data comes from ``GET /events/<stream>`` — Server-Sent Events that
this server relays from the streams server, holding the streams secret itself; an
``EventSource`` that reconnects sends ``Last-Event-ID`` (the stream offset it reached) and the
relay resumes there.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from quart import Quart, Response, redirect, request

from netscript import HostError, control_resource

from . import token
from .pages import UNAUTHORIZED_PAGE, main_page
from .panels import Panel

STREAMS = {"resources": "/netscript/resources"}  # what a page may follow, by name
LOGS_PREFIX = "/netscript/logs/"
LISTING = "/__ds/netscript/streams"  # the NetScript streams server's listing (an extension)
TAIL = 200  # console lines a page gets first from a long history
KEEPALIVE = 15.0  # seconds between SSE comments while nothing happens
LONG_POLL = 30.0


def create_app(
    folder: Path,
    streams_url: str | None,
    streams_headers: Mapping[str, str],
    panels: list[Panel] | None = None,
    units: list[str] | None = None,
    graph: list[dict[str, Any]] | None = None,
) -> Quart:
    """The dashboard on the token kept in ``folder``, relaying ``streams_url``, with the
    plugins' ``panels``, the console of the run's ``units`` and the resources' dependency
    ``graph`` (``[{"name", "dependsOn"}]``)."""
    app = Quart("netscript.dashboard")
    streams = {**STREAMS, **{f"panel-{p.id}": p.stream for p in panels or []}}
    streams.update({f"logs-{u}": f"{LOGS_PREFIX}{u}" for u in units or []})
    page = main_page([p.page_config() for p in panels or []], units or [], graph or [])
    ready = {"ok": False}

    def authorized() -> bool:
        return token.matches(request.cookies.get(token.COOKIE), folder)

    def unauthorized() -> Response:
        return Response(UNAUTHORIZED_PAGE, 401, mimetype="text/html")

    @app.before_serving
    async def started() -> None:
        ready["ok"] = True

    @app.get("/favicon.ico")
    async def favicon() -> Any:
        return Response(b"", 204)

    @app.get("/health")
    async def health() -> Any:
        return {"status": "ok"}

    @app.get("/health/ready")
    async def health_ready() -> Any:
        return ({"status": "ready"}, 200) if ready["ok"] else ({"status": "starting"}, 503)

    @app.get("/")
    async def index() -> Any:
        given = request.args.get("t")
        if given is not None:
            if not token.matches(given, folder):
                return unauthorized()
            answer = redirect("/", 303)
            answer.set_cookie(token.COOKIE, given, httponly=True, samesite="Strict", path="/")
            return answer
        if not authorized():
            return unauthorized()
        return Response(page, 200, mimetype="text/html")

    @app.post("/actions/<resource>/<action>")
    async def act(resource: str, action: str) -> Any:
        """Start, stop or restart a resource through the run's control channel: the cookie,
        and the page's own ``Origin`` (a form or script of another site cannot act)."""
        if not authorized():
            return unauthorized()
        own = f"{request.scheme}://{request.host}"
        if request.headers.get("Origin") != own:
            return _error(403, "forbidden", "an action needs the dashboard page's own Origin")
        try:
            command = await asyncio.to_thread(control_resource, action, resource)
        except HostError as exc:
            return _error(409, "refused", str(exc))
        return {"ok": True, "command": command}, 202

    by_id = {p.id: p for p in panels or []}

    @app.post("/panels/<panel_id>/actions/<action_id>")
    async def panel_action(panel_id: str, action_id: str) -> Any:
        """A panel's row action: the cookie and the page's own Origin, then the call on the
        panel's resource's API, made here (the browser never calls a plugin's API)."""
        if not authorized():
            return unauthorized()
        if request.headers.get("Origin") != f"{request.scheme}://{request.host}":
            return _error(403, "forbidden", "an action needs the dashboard page's own Origin")
        found = by_id.get(panel_id)
        action = next((a for a in found.actions if a.id == action_id), None) if found else None
        if found is None or action is None or found.resource is None:
            return _error(404, "not-found", f"no action {action_id!r} on panel {panel_id!r}")
        given = (await request.get_json(silent=True) or {}).get("values") or {}
        values = {f: str(given.get(f, "")) for f in action.fields()}
        if not all(values.values()):
            return _error(400, "malformed", f"the action needs {', '.join(action.fields())}")
        base = await resource_url(found.resource)
        if base is None:
            return _error(409, "refused", f"the resource {found.resource!r} is not running")
        quoted = {k: quote(v, safe="") for k, v in values.items()}
        import httpx

        async with httpx.AsyncClient(timeout=30) as http:
            try:
                answer = await http.request(action.method, base + action.path.format(**quoted))
            except httpx.HTTPError as exc:
                return _error(502, "unreachable", f"{found.resource}: {exc}")
        try:
            body = answer.json()
        except ValueError:
            body = answer.text[:500]
        command = action.command.format(**values)
        return {"ok": answer.status_code < 400, "status": answer.status_code,
                "answer": body, "command": command}, 200  # fmt: skip

    @app.get("/panels/<panel_id>/detail")
    async def panel_detail(panel_id: str) -> Any:
        """A row's detail, fetched here from the panel's resource's API (``?field=value``
        for each placeholder)."""
        if not authorized():
            return unauthorized()
        found = by_id.get(panel_id)
        if found is None or found.detail is None or found.resource is None:
            return _error(404, "not-found", f"panel {panel_id!r} has no detail view")
        values = {f: request.args.get(f, "") for f in found.detail_fields()}
        if not all(values.values()):
            return _error(400, "malformed", f"the detail needs {', '.join(values)}")
        base = await resource_url(found.resource)
        if base is None:
            return _error(409, "refused", f"the resource {found.resource!r} is not running")
        import httpx

        path = found.detail.format(**{k: quote(v, safe="") for k, v in values.items()})
        async with httpx.AsyncClient(timeout=30) as http:
            try:
                answer = await http.get(base + path)
            except httpx.HTTPError as exc:
                return _error(502, "unreachable", f"{found.resource}: {exc}")
        try:
            return {"status": answer.status_code, "detail": answer.json()}
        except ValueError:
            return {"status": answer.status_code, "detail": answer.text[:5000]}

    async def resource_url(name: str) -> str | None:
        """The URL of resource ``name`` (its first replica), from the run's statuses."""
        if streams_url is None:
            return None
        import httpx

        url: str | None = None
        offset = "-1"
        async with httpx.AsyncClient(headers=dict(streams_headers), timeout=10) as http:
            while True:
                answer = await http.get(streams_url + STREAMS["resources"],
                                        params={"offset": offset})  # fmt: skip
                if answer.status_code != 200:
                    return url
                for event in answer.json():
                    value = event.get("value") or {}
                    ours = value.get("resource") == name and value.get("url")
                    if ours and (url is None or value.get("replica") in (None, 0)):
                        url = value["url"]
                offset = answer.headers["Stream-Next-Offset"]
                if answer.headers.get("Stream-Up-To-Date") == "true":
                    return url

    @app.get("/streams")
    async def list_streams() -> Any:
        """The run's streams with their sizes, from the server's listing when it offers one
        (``{"streams": null}`` when it does not)."""
        if not authorized():
            return unauthorized()
        if streams_url is None:
            return {"streams": None, "note": "this run has no streams server"}
        import httpx

        parts = urlsplit(streams_url)
        listing = f"{parts.scheme}://{parts.netloc}{LISTING}"
        async with httpx.AsyncClient(headers=dict(streams_headers), timeout=10) as http:
            try:
                answer = await http.get(listing, params={"prefix": parts.path.rstrip("/")})
            except httpx.HTTPError as exc:
                return _error(502, "unreachable", f"the streams server: {exc}")
        if answer.status_code != 200:
            return {"streams": None, "note": "the streams server offers no listing"}
        found = answer.json().get("streams", [])
        prefix = parts.path.rstrip("/")
        for stream in found:
            stream["path"] = stream["path"][len(prefix):] or "/"
        return {"streams": found}

    @app.get("/logs/<unit>")
    async def older_lines(unit: str) -> Any:
        """A unit's console lines before ``?before=<seq>`` (the last ``limit``, 200 by
        default): the console's "older" button."""
        if not authorized():
            return unauthorized()
        name = f"logs-{unit}"
        if streams_url is None or name not in streams:
            return _error(404, "not-found", f"no console for {unit!r}")
        before = request.args.get("before", "")
        limit = min(max(int(request.args.get("limit", "200") or 200), 1), 2000)
        import httpx

        found: list[Any] = []
        offset = "-1"
        async with httpx.AsyncClient(headers=dict(streams_headers), timeout=30) as http:
            while True:
                answer = await http.get(streams_url + streams[name], params={"offset": offset})
                if answer.status_code != 200:
                    break
                for message in answer.json():
                    value = message.get("value") or {}
                    earlier = not before or value.get("seq", "") < before
                    if message.get("type") == "log-line" and earlier:
                        found.append(value)
                found = found[-limit:]
                offset = answer.headers.get("Stream-Next-Offset", offset)
                if answer.headers.get("Stream-Up-To-Date") == "true":
                    break
        return {"lines": found}

    @app.get("/events/tail")
    async def tail() -> Any:
        """One stream of the run, any (``?path=``), from its start: the streams panel's
        live tail."""
        if not authorized():
            return unauthorized()
        path = request.args.get("path", "")
        dots = {".", ".."} & set(path.split("/"))
        if streams_url is None or dots or not re.fullmatch(r"(/[A-Za-z0-9._~-]+)+", path):
            return _error(404, "not-found", f"no stream {path!r}")
        offset = request.headers.get("Last-Event-ID") or "-1"
        answer = Response(relay(streams_url + path, offset, streams_headers),
                          mimetype="text/event-stream")  # fmt: skip
        answer.headers["Cache-Control"] = "no-store"
        answer.timeout = None
        return answer

    @app.get("/events")
    async def multiplexed() -> Any:
        """Several streams on one connection (a browser opens only six per host): ``?s=``
        names them; each message is ``{"stream", "messages"}``; the event id is the offsets
        reached (JSON), so a reconnecting ``EventSource`` resumes every stream."""
        if not authorized():
            return unauthorized()
        names = [n for n in request.args.getlist("s") if n]
        unknown = [n for n in names if n not in streams]
        if not names or unknown or streams_url is None:
            return _error(404, "not-found", f"no stream {', '.join(unknown) or '(none)'}")
        try:
            offsets = json.loads(request.headers.get("Last-Event-ID") or "{}")
        except ValueError:
            offsets = {}
        if not isinstance(offsets, dict):
            offsets = {}
        start = {n: str(offsets.get(n) or "-1") for n in names}
        answer = Response(
            multiplex(streams_url, {n: streams[n] for n in names}, start, streams_headers),
            mimetype="text/event-stream",
        )
        answer.headers["Cache-Control"] = "no-store"
        answer.timeout = None
        return answer

    @app.get("/events/<name>")
    async def events(name: str) -> Any:
        if not authorized():
            return unauthorized()
        path = streams.get(name)
        if path is None or streams_url is None:
            return _error(404, "not-found", f"no stream {name!r}")
        offset = request.headers.get("Last-Event-ID") or request.args.get("offset") or "-1"
        answer = Response(
            relay(streams_url + path, offset, streams_headers), mimetype="text/event-stream"
        )
        answer.headers["Cache-Control"] = "no-store"
        answer.timeout = None  # a stream: no response timeout
        return answer

    return app


async def multiplex(
    base: str,
    paths: Mapping[str, str],
    start: Mapping[str, str],
    headers: Mapping[str, str],
    *,
    single: bool = False,
) -> AsyncIterator[bytes]:
    """Relay every stream of ``paths`` (name -> path) from ``start`` offsets as one SSE:
    each event ``{"stream", "messages"}``, its id the offsets of all (``single``: one stream,
    each event its messages, its id its offset). A console's log stream that starts from the
    beginning sends only its last ``TAIL`` lines first (opening on a long history is fast),
    then follows live; comments keep the connection while nothing happens."""
    queue: asyncio.Queue[tuple[str, str, list[Any]] | None] = asyncio.Queue(maxsize=64)

    async def pump(name: str, path: str) -> None:
        tail = TAIL if name.startswith("logs-") and start[name] == "-1" else None
        async for offset, messages in batches(base + path, start[name], headers, tail):
            await queue.put((name, offset, messages))

    tasks = [asyncio.create_task(pump(n, p)) for n, p in paths.items()]
    offsets = dict(start)
    try:
        yield b": connected\n\n"
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                yield b": keepalive\n\n"
                continue
            assert item is not None
            name, offset, messages = item
            offsets[name] = offset
            if single:
                data, ident = json.dumps(messages, separators=(",", ":")), offset
            else:
                data = json.dumps({"stream": name, "messages": messages}, separators=(",", ":"))
                ident = json.dumps(offsets, separators=(",", ":"))
            yield f"id: {ident}\ndata: {data}\n\n".encode()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def batches(
    url: str, offset: str, headers: Mapping[str, str], tail: int | None = None
) -> AsyncIterator[tuple[str, list[Any]]]:
    """``(offset after, messages)`` of the stream at ``url`` from ``offset``, forever (the
    streams server's absence retried with a capped backoff). ``tail``: catch up first and
    hand on only the last ``tail`` messages of what was there."""
    import httpx

    delay = 0.1
    held: list[Any] = []
    catching_up = tail is not None
    async with httpx.AsyncClient(headers=dict(headers), timeout=LONG_POLL + 10) as http:
        while True:
            params = {"offset": offset} if catching_up else {"offset": offset, "live": "long-poll"}
            try:
                answer = await http.get(url, params=params)
            except httpx.HTTPError:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            delay = 0.1
            if answer.status_code == 404:  # not created yet
                await asyncio.sleep(0.5)
                continue
            if answer.status_code not in (200, 204):  # gone, refused: back off, no busy loop
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            if answer.status_code == 204 and answer.headers.get("Stream-Closed") == "true":
                await asyncio.sleep(KEEPALIVE)  # closed: nothing more will come
                continue
            offset = answer.headers.get("Stream-Next-Offset", offset)
            messages: list[Any] = []
            if answer.status_code == 200:
                try:
                    messages = answer.json()
                except ValueError:  # not a JSON stream: its bytes as text, one message
                    messages = [answer.text] if answer.content else []
            if catching_up:
                held = (held + messages)[-(tail or 0):]
                if answer.headers.get("Stream-Up-To-Date") == "true" or not messages:
                    catching_up = False
                    if held:
                        yield offset, held
                continue
            if messages:
                yield offset, messages


def _error(status: int, code: str, message: str) -> tuple[dict[str, Any], int]:
    return {"error": {"code": code, "message": message}}, status


async def relay(url: str, offset: str, headers: Mapping[str, str]) -> AsyncIterator[bytes]:
    """The stream at ``url`` from ``offset``, as SSE: one ``data:`` per batch of messages (a
    JSON array), its ``id:`` the offset after it (:func:`multiplex` with one stream)."""
    async for chunk in multiplex(url, {"": ""}, {"": offset}, headers, single=True):
        yield chunk
