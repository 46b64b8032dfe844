"""The dashboard's live streams (server-sent events): the overview and one session, each re-sent when
its content changes, and ended as soon as the login session or the patient's assignment ends."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from coach.monitor import accounts
from coach.monitor.views import overview, session_detail
from coach.monitor.web import (
    COOKIE,
    CTX,
    _overview_for,
    _patient_for,
    _remote,
    _session,
    _session_id,
    link_info,
)


async def _stream(
    request: web.Request,
    name: str,
    produce: Callable[[], Awaitable[Any]],
    allowed: Callable[[], Awaitable[bool]] | None = None,
) -> web.StreamResponse:
    """Send ``produce()`` as an SSE event whenever it changes (checked on new data and every second).

    Before every message the login session is checked again, and ``allowed()`` (the patient is still
    assigned to this therapist): a logout, an expiry or an ended assignment ends the stream at once.
    """
    ctx = request.app[CTX]
    token = request.cookies.get(COOKIE, "")
    response = web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
    await response.prepare(request)
    last_text = ""
    last_sent = 0.0
    generation = -1
    try:
        while True:
            now = time.monotonic()
            if await accounts.resume_session(ctx.db, token) is None:
                await response.write(b"event: logout\ndata: {}\n\n")
                break
            if allowed is not None and not await allowed():
                await response.write(
                    b'event: forbidden\ndata: {"error": "this patient is no longer assigned to you"}\n\n'
                )
                break
            text = json.dumps(await produce(), allow_nan=False, separators=(",", ":"))
            if text != last_text:
                await response.write(f"event: {name}\ndata: {text}\n\n".encode())
                last_text, last_sent = text, now
            elif now - last_sent > ctx.stream_heartbeat_s:
                await response.write(b": keep-alive\n\n")
                last_sent = now
            generation = await ctx.changes.wait(generation, 1.0)
            await asyncio.sleep(ctx.stream_min_interval_s)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    return response


async def stream_overview(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    therapist = _session(request).therapist

    async def produce() -> Any:
        return {
            "patients": await _overview_for(ctx, therapist),
            "server_unix_s": round(time.time()),
            "monitor": link_info(ctx),
        }

    await accounts.audit(ctx.db, therapist.username, "watch_overview", remote=_remote(request))
    return await _stream(request, "overview", produce)


async def stream_session(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    s = _session_id(request)
    patient = await _patient_for(request, "watch_session", detail=s)
    p = patient["patient_id"]
    therapist = _session(request).therapist

    async def produce() -> Any:
        detail = await session_detail(ctx.db, p, s)
        if detail is not None:
            detail["display_name"] = patient["display_name"]
        cards = await overview(ctx.db, [patient], ctx.alerts)
        return {"detail": detail, "live": cards[0], "monitor": link_info(ctx)}

    async def allowed() -> bool:
        return await accounts.is_assigned(ctx.db, therapist, p)

    return await _stream(request, "session", produce, allowed)


def register(app: web.Application) -> None:
    r = app.router
    r.add_get("/api/stream/overview", stream_overview)
    r.add_get("/api/stream/patients/{patient}/sessions/{session}", stream_session)
