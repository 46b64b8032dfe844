"""The session page's web server (aiohttp): the page, its live updates (server-sent events), its buttons.

Routes (every one but the pairing form and the static files needs a paired browser):

- ``GET /``: the page, in the session's language; ``GET /?key=...`` pairs this computer's browser.
- ``GET /pair`` (``?code=...`` from the QR code), ``POST /api/pair``: pairing.
- ``GET /api/events``: server-sent events, ``state`` (the whole current document, on connecting and
  after every change) and ``say`` (a line to speak); a comment every 15 s keeps the line open.
- ``GET /api/state``: the current document.
- ``POST /api/answer`` ``{"code", "answer"}``, ``/api/report`` ``{"step", "value"}``, ``/api/stop``,
  ``/api/pause`` ``{"paused"}``, ``/api/helper`` ``{"helper"}``: the page's buttons. They must come from
  the page itself (same origin, JSON).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from coach.i18n import Texts
from coach.patient_page.inputs import PageInputs
from coach.patient_page.pairing import COOKIE, Pairing
from coach.patient_page.state import Client, PageView
from coach.patient_page.texts import page_texts

HEARTBEAT_S = 15.0
STATIC_FILES = {"page.css": "text/css", "page.js": "text/javascript", "pair.js": "text/javascript"}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _static(name: str) -> str:
    return resources.files("coach.patient_page").joinpath("static", name).read_text(encoding="utf-8")


def _json_for_html(value: Any) -> str:
    """JSON safe inside a ``<script type="application/json">`` element."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e")


class PageServer:
    """Serves one session's page; ``await start(host, port, ssl_context)``, ``await stop()``."""

    def __init__(
        self, view: PageView, inputs: PageInputs, pairing: Pairing, tr: Texts, *, secure: bool
    ) -> None:
        self.view = view
        self.inputs = inputs
        self.pairing = pairing
        self.tr = tr
        self.secure = secure
        self.on_helper: list[Callable[[bool], None]] = []
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._closing = asyncio.Event()
        self._streams: dict[Client, asyncio.BaseTransport | None] = {}
        self._texts = page_texts(tr)
        self.app = web.Application(middlewares=[self._guard])
        r = self.app.router
        r.add_get("/", self.index)
        r.add_get("/pair", self.pair_page)
        r.add_post("/api/pair", self.api_pair)
        r.add_get("/api/state", self.api_state)
        r.add_get("/api/events", self.api_events)
        r.add_post("/api/answer", self.api_answer)
        r.add_post("/api/report", self.api_report)
        r.add_post("/api/stop", self.api_stop)
        r.add_post("/api/pause", self.api_pause)
        r.add_post("/api/helper", self.api_helper)
        r.add_get("/static/{name}", self.static)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, host: str, port: int, ssl_context: ssl.SSLContext | None = None) -> int:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port, ssl_context=ssl_context)
        await self._site.start()
        addresses = self._runner.addresses  # the port actually bound, when 0 asked for any free one
        self.port = int(addresses[-1][1]) if addresses else port
        return self.port

    async def stop(self) -> None:
        self._closing.set()
        self.view.changed()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def open_pages(self) -> int:
        """How many pages are connected now."""
        return len(self.view.listeners)

    async def drop_connections(self) -> int:
        """Cut every page's live connection (as a network drop would); they reconnect by themselves."""
        streams = list(self._streams.items())
        for client, transport in streams:
            client.closed = True
            client.wake.set()
            if transport is not None:
                transport.close()
        return len(streams)

    # -- access ------------------------------------------------------------------------------------
    def _paired(self, request: web.Request) -> bool:
        return self.pairing.valid(request.cookies.get(COOKIE))

    def _set_token(self, response: web.StreamResponse, token: str) -> None:
        response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", secure=self.secure, path="/")

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        open_paths = path in ("/pair", "/api/pair") or path.startswith("/static/")
        if not open_paths and path != "/" and not self._paired(request):
            raise web.HTTPUnauthorized(text="pair this screen first", headers=SECURITY_HEADERS)
        if request.method == "POST":
            origin = request.headers.get("Origin")
            expected = f"{request.scheme}://{request.host}"
            if (origin is not None and origin != expected) or request.content_type != "application/json":
                raise web.HTTPForbidden(text="not from this page", headers=SECURITY_HEADERS)
        response = await handler(request)
        if not response.prepared:
            for k, v in SECURITY_HEADERS.items():
                response.headers.setdefault(k, v)
        return response

    # -- pages -------------------------------------------------------------------------------------
    def _html(self, name: str) -> web.Response:
        body = (
            _static(name)
            .replace("__LANG__", self.tr.language)
            .replace("__TITLE__", self._texts["title"])
            .replace("__TEXTS__", _json_for_html(self._texts))
        )
        return web.Response(text=body, content_type="text/html", charset="utf-8")

    async def index(self, request: web.Request) -> web.StreamResponse:
        key = request.query.get("key")
        if key is not None:
            token = self.pairing.pair(key)
            response = web.HTTPFound("/" if token else "/pair")
            if token:
                self._set_token(response, token)
            raise response
        if not self._paired(request):
            raise web.HTTPFound("/pair")
        return self._html("index.html")

    async def pair_page(self, request: web.Request) -> web.StreamResponse:
        code = request.query.get("code")
        if code is not None:
            token = self.pairing.pair(code)
            if token:
                response = web.HTTPFound("/")
                self._set_token(response, token)
                raise response
        return self._html("pair.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(text=_static(name), content_type=STATIC_FILES[name], charset="utf-8")

    # -- API -----------------------------------------------------------------------------------------
    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            raise web.HTTPBadRequest(text="JSON expected") from None
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="a JSON object expected")
        return body

    async def api_pair(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        before = self.pairing.code
        token = self.pairing.pair(str(body.get("code", ""))[:64])
        if token is None:
            renewed = self.pairing.code != before
            return web.json_response({"ok": False, "error": "expired" if renewed else "wrong"}, status=403)
        response = web.json_response({"ok": True})
        self._set_token(response, token)
        return response

    async def api_state(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.view.snapshot())

    async def api_events(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(
            headers={**SECURITY_HEADERS, "Content-Type": "text/event-stream", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        client = self.view.listeners.add()
        if "Last-Event-ID" not in request.headers:  # a page just opened (not one reconnecting)
            client.says.extend(self.view.current_lines())
        self._streams[client] = request.transport
        closing = asyncio.ensure_future(self._closing.wait())
        try:
            await response.write(b"retry: 1000\n\n")
            while not self._closing.is_set():
                wake = asyncio.ensure_future(client.wake.wait())
                done, _ = await asyncio.wait(
                    {wake, closing}, timeout=HEARTBEAT_S, return_when=asyncio.FIRST_COMPLETED
                )
                if wake not in done:
                    wake.cancel()
                    if not done:
                        await response.write(b"event: ping\ndata: {}\n\n")
                    continue
                client.wake.clear()
                if client.closed:
                    break
                doc = self.view.snapshot()
                says, client.says = client.says, []
                chunks = [f"event: state\nid: {doc['seq']}\ndata: {json.dumps(doc, ensure_ascii=False)}\n\n"]
                chunks += [f"event: say\ndata: {json.dumps(s, ensure_ascii=False)}\n\n" for s in says]
                await response.write("".join(chunks).encode("utf-8"))
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            closing.cancel()
            self.view.listeners.remove(client)
            self._streams.pop(client, None)
        return response

    async def api_answer(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        answer = body.get("answer")
        if not isinstance(answer, bool) or not self.inputs.answer(str(body.get("code")), answer):
            return web.json_response({"ok": False, "error": "that question is not being asked"}, status=409)
        return web.json_response({"ok": True})

    async def api_report(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        value = body.get("value")
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10
        ):
            return web.json_response({"ok": False, "error": "a whole number 0–10, or null"}, status=400)
        if not self.inputs.score(str(body.get("step")), value):
            return web.json_response({"ok": False, "error": "not being asked"}, status=409)
        return web.json_response({"ok": True})

    async def api_stop(self, request: web.Request) -> web.StreamResponse:
        if not self.inputs.stop():
            return web.json_response({"ok": False, "error": "no session to stop"}, status=409)
        return web.json_response({"ok": True})

    async def api_pause(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        if not self.inputs.pause(bool(body.get("paused"))):
            return web.json_response({"ok": False, "error": "cannot do that now"}, status=409)
        return web.json_response({"ok": True})

    async def api_helper(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        helper = bool(body.get("helper"))
        self.view.set_helper(helper)
        for callback in self.on_helper:
            with contextlib.suppress(Exception):
                callback(helper)
        return web.json_response({"ok": True})
