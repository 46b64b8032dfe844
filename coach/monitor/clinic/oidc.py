"""Sign-in through the clinic's identity provider: OpenID Connect, authorization code flow with PKCE.

Beside the local accounts (which keep working), a clinic registers its provider once
(``coach monitor oidc-add``: issuer, client id, client secret file, the redirect URI registered at the
provider) and maps each clinic identity, the provider's ``(iss, sub)``, to a monitor therapist
(``coach monitor oidc-map``). Only a mapped identity signs in: the monitor never creates accounts
from a provider's claims.

Flow: ``/auth/oidc/<name>/start`` makes a random ``state``, ``nonce`` and PKCE ``code_verifier`` (S256),
keeps them in ``oidc_logins`` (keyed by the state's SHA-256, 10 minutes, so any instance behind a load
balancer can finish the sign-in) and binds the state to the browser with a ``SameSite=Lax`` cookie;
the callback checks both, exchanges the code with Authlib's client (``AsyncOAuth2Client``), verifies
the ID token (signature against the provider's JWKS, ``iss``, ``aud``, ``exp``, ``nonce``) with
joserfc, and starts the same login session as a password login. The session cookie is
``SameSite=Strict``, which a browser withholds on the cross-site redirect back from the provider,
so the callback answers with a page that moves on to the monitor by itself (a same-site navigation).
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlsplit

from aiohttp import web
from authlib.integrations.httpx_client import AsyncOAuth2Client
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from coach.errors import ConfigError, ValidationError
from coach.ids import ID_PATTERN
from coach.monitor import accounts
from coach.monitor.accounts import Therapist
from coach.monitor.db import Database
from coach.monitor.secret_box import secret_box
from coach.monitor.web import COOKIE, CTX, _json, _remote

log = logging.getLogger("coach.monitor.oidc")

STATE_COOKIE: Final = "coach_oidc_state"
LOGIN_TTL_S: Final = 600.0
HTTP_TIMEOUT_S: Final = 10.0
DEFAULT_SCOPES: Final = "openid email profile"


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    label: str
    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    scopes: str


def _sealing_aad(name: str) -> str:
    return f"oidc-client:{name}"


async def add_provider(
    db: Database,
    name: str,
    *,
    issuer: str,
    client_id: str,
    redirect_uri: str,
    client_secret: str | None = None,
    label: str | None = None,
    scopes: str = DEFAULT_SCOPES,
) -> None:
    """Register (or replace) a clinic identity provider; the client secret is stored encrypted."""
    if not ID_PATTERN.match(name):
        raise ValidationError(f"provider name {name!r}: letters, digits, '.', '_' or '-'")
    for what, url in (("issuer", issuer), ("redirect URI", redirect_uri)):
        parts = urlsplit(url)
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if parts.scheme != "https" and not (parts.scheme == "http" and local):
            raise ValidationError(f"{what} {url!r}: must be https:// (http only for localhost)")
    if "openid" not in scopes.split():
        raise ValidationError("scopes must include openid")
    sealed = (await secret_box(db)).encrypt(_sealing_aad(name), client_secret) if client_secret else None
    await db.execute(
        "INSERT INTO oidc_providers (name, label, issuer, client_id, client_secret, redirect_uri, scopes,"
        " created_unix_s) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
        " label = excluded.label, issuer = excluded.issuer, client_id = excluded.client_id,"
        " client_secret = excluded.client_secret, redirect_uri = excluded.redirect_uri,"
        " scopes = excluded.scopes",
        (
            name,
            label or f"Sign in with {name}",
            issuer.rstrip("/"),
            client_id,
            sealed,
            redirect_uri,
            scopes,
            time.time(),
        ),
    )


async def providers(db: Database) -> list[ProviderConfig]:
    rows = await db.fetchall("SELECT * FROM oidc_providers ORDER BY name")
    box = await secret_box(db) if any(r["client_secret"] for r in rows) else None
    return [
        ProviderConfig(
            name=r["name"],
            label=r["label"],
            issuer=r["issuer"],
            client_id=r["client_id"],
            client_secret=box.decrypt(_sealing_aad(r["name"]), r["client_secret"])
            if box and r["client_secret"]
            else None,
            redirect_uri=r["redirect_uri"],
            scopes=r["scopes"],
        )
        for r in rows
    ]


async def map_identity(db: Database, provider: str, subject: str, username: str) -> None:
    """Let the provider's identity ``subject`` sign in as the therapist ``username``."""
    conf = next((p for p in await providers(db) if p.name == provider), None)
    if conf is None:
        raise ValidationError(f"no identity provider {provider!r} (add it with oidc-add)")
    therapist = await db.fetchone("SELECT id FROM therapists WHERE username = ?", (username,))
    if therapist is None:
        raise ValidationError(f"no therapist {username!r}")
    if not subject or len(subject) > 255:
        raise ValidationError("subject: the provider's 'sub' claim, 1 to 255 characters")
    await db.execute(
        "INSERT INTO oidc_identities (issuer, subject, therapist_id, created_unix_s) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (issuer, subject) DO UPDATE SET therapist_id = excluded.therapist_id",
        (conf.issuer, subject, therapist["id"], time.time()),
    )


async def therapist_for(db: Database, issuer: str, subject: str) -> Therapist | None:
    row = await db.fetchone(
        "SELECT t.id, t.username, t.display_name, t.is_admin FROM oidc_identities i"
        " JOIN therapists t ON t.id = i.therapist_id WHERE i.issuer = ? AND i.subject = ?",
        (issuer, subject),
    )
    if row is None:
        return None
    return Therapist(int(row["id"]), row["username"], row["display_name"], bool(row["is_admin"]))


def _client(conf: ProviderConfig) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=conf.client_id,
        client_secret=conf.client_secret,
        token_endpoint_auth_method="client_secret_basic" if conf.client_secret else "none",
        scope=conf.scopes,
        redirect_uri=conf.redirect_uri,
        code_challenge_method="S256",
        timeout=HTTP_TIMEOUT_S,
    )


async def _metadata(client: AsyncOAuth2Client, conf: ProviderConfig) -> dict[str, Any]:
    response = await client.request(
        "GET", f"{conf.issuer}/.well-known/openid-configuration", withhold_token=True
    )
    response.raise_for_status()
    meta: dict[str, Any] = response.json()
    if meta.get("issuer", "").rstrip("/") != conf.issuer:
        raise ConfigError(f"provider {conf.name}: discovery names issuer {meta.get('issuer')!r}")
    return meta


def _state_hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


#: In a ``next=`` target: a backslash (browsers read ``/\evil.example/`` as ``//evil.example/``, another
#: site) or a control character.
_UNSAFE_IN_NEXT: Final = re.compile(r"[\\\x00-\x1f\x7f]")


def safe_next(path: str | None) -> str:
    """Where to go after sign-in: ``path`` if it is an ordinary path on this site, else ``/`` (the same
    rule as the login page's ``sameSiteTarget``)."""
    if not path or not path.startswith("/") or path.startswith("//") or _UNSAFE_IN_NEXT.search(path):
        return "/"
    parts = urlsplit(path)
    return path if not parts.scheme and not parts.netloc else "/"


async def _provider_named(request: web.Request) -> ProviderConfig:
    name = request.match_info["name"]
    conf = next((p for p in await providers(request.app[CTX].db) if p.name == name), None)
    if conf is None:
        raise web.HTTPNotFound(text="no such sign-in provider")
    return conf


async def start(request: web.Request) -> web.StreamResponse:
    conf = await _provider_named(request)
    db = request.app[CTX].db
    state, nonce, verifier = (secrets.token_urlsafe(32) for _ in range(3))
    try:
        async with _client(conf) as client:
            meta = await _metadata(client, conf)
            url, _ = client.create_authorization_url(
                meta["authorization_endpoint"], state=state, nonce=nonce, code_verifier=verifier
            )
    except Exception as exc:  # the provider is down or misconfigured: say so on the login page
        log.warning("oidc: %s: discovery failed: %s", conf.name, exc)
        raise web.HTTPFound(
            "/login?error=" + quote("The clinic sign-in is not reachable; please try again.")
        ) from None
    now = time.time()
    await db.execute("DELETE FROM oidc_logins WHERE created_unix_s < ?", (now - LOGIN_TTL_S,))
    await db.execute(
        "INSERT INTO oidc_logins (state_sha256, provider, nonce, code_verifier, next_path, created_unix_s)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (_state_hash(state), conf.name, nonce, verifier, safe_next(request.query.get("next")), now),
    )
    response = web.HTTPFound(url)
    response.set_cookie(
        STATE_COOKIE,
        state,
        httponly=True,
        samesite="Lax",
        secure=request.app[CTX].secure_cookies,
        path="/auth/oidc/",
        max_age=int(LOGIN_TTL_S),
    )
    raise response


def _refuse(reason: str) -> web.HTTPFound:
    return web.HTTPFound("/login?error=" + quote(reason))


async def _verified_claims(
    client: AsyncOAuth2Client, conf: ProviderConfig, meta: dict[str, Any], id_token: str, nonce: str
) -> dict[str, Any]:
    response = await client.request("GET", meta["jwks_uri"], withhold_token=True)
    response.raise_for_status()
    keys = KeySet.import_key_set(response.json())
    token = jwt.decode(
        id_token, keys, algorithms=meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    )
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": conf.issuer},
        aud={"essential": True, "value": conf.client_id},
        sub={"essential": True},
        exp={"essential": True},
        nonce={"essential": True, "value": nonce},
        leeway=60,
    )
    registry.validate(token.claims)
    return dict(token.claims)


async def callback(request: web.Request) -> web.StreamResponse:
    ctx = request.app[CTX]
    conf = await _provider_named(request)
    remote = _remote(request)
    state = request.query.get("state", "")
    if "error" in request.query:
        await accounts.audit(ctx.db, f"oidc:{conf.name}", "login_oidc_failed", detail="provider refused")
        raise _refuse("The clinic sign-in was cancelled or refused.")
    cookie = request.cookies.get(STATE_COOKIE, "")
    if not state or not secrets.compare_digest(state, cookie):
        await accounts.audit(ctx.db, f"oidc:{conf.name}", "login_oidc_failed", detail="state", remote=remote)
        raise _refuse("This sign-in was not started in this browser; please try again.")
    async with ctx.db.transaction() as tx:
        pending = await tx.fetchone(
            "SELECT provider, nonce, code_verifier, next_path, created_unix_s FROM oidc_logins"
            " WHERE state_sha256 = ?",
            (_state_hash(state),),
        )
        await tx.execute("DELETE FROM oidc_logins WHERE state_sha256 = ?", (_state_hash(state),))
    if (
        pending is None
        or pending["provider"] != conf.name
        or pending["created_unix_s"] < time.time() - LOGIN_TTL_S
    ):
        raise _refuse("This sign-in expired; please try again.")
    try:
        async with _client(conf) as client:
            meta = await _metadata(client, conf)
            token = await client.fetch_token(
                meta["token_endpoint"],
                grant_type="authorization_code",
                code=request.query.get("code", ""),
                code_verifier=pending["code_verifier"],
            )
            claims = await _verified_claims(
                client, conf, meta, str(token.get("id_token", "")), pending["nonce"]
            )
    except (JoseError, ValueError, KeyError, ConfigError) as exc:
        log.warning("oidc: %s: token rejected: %s", conf.name, exc)
        await accounts.audit(ctx.db, f"oidc:{conf.name}", "login_oidc_failed", detail="token", remote=remote)
        raise _refuse("The clinic sign-in could not be verified.") from None
    except Exception as exc:
        log.warning("oidc: %s: token exchange failed: %s", conf.name, exc)
        await accounts.audit(
            ctx.db, f"oidc:{conf.name}", "login_oidc_failed", detail="exchange", remote=remote
        )
        raise _refuse("The clinic sign-in could not be completed; please try again.") from None
    subject = str(claims["sub"])
    therapist = await therapist_for(ctx.db, conf.issuer, subject)
    if therapist is None:
        await accounts.audit(
            ctx.db, f"oidc:{conf.name}", "login_oidc_unmapped", detail=f"sub={subject[:80]}", remote=remote
        )
        raise _refuse(
            f"Your clinic account ({subject}) is not linked to a monitor therapist yet: ask an "
            f"administrator to run  coach monitor oidc-map {conf.name} {subject} USERNAME"
        )
    old = request.cookies.get(COOKIE)
    if old:
        await accounts.end_session(ctx.db, old)
    cookie_token, _ = await accounts.start_session(ctx.db, therapist)
    await accounts.audit(ctx.db, therapist.username, "login_oidc", detail=conf.name, remote=remote)
    target = html.escape(safe_next(pending["next_path"]), quote=True)
    page = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0;url={target}"><title>Signed in</title></head>'
        f'<body><p>Signed in. <a href="{target}">Continue to the monitor</a>.</p></body></html>'
    )
    response = web.Response(text=page, content_type="text/html", headers={"Cache-Control": "no-store"})
    response.set_cookie(
        COOKIE, cookie_token, httponly=True, samesite="Strict", secure=ctx.secure_cookies, path="/"
    )
    response.del_cookie(STATE_COOKIE, path="/auth/oidc/")
    return response


async def sign_in_options(request: web.Request) -> web.StreamResponse:
    """Public: the clinic identity providers the login page offers."""
    confs = await providers(request.app[CTX].db)
    return _json(
        {
            "providers": [
                {"name": c.name, "label": c.label, "url": f"/auth/oidc/{c.name}/start"} for c in confs
            ]
        }
    )


def register(app: web.Application) -> None:
    app.router.add_get("/auth/oidc/{name}/start", start)
    app.router.add_get("/auth/oidc/{name}/callback", callback)
    app.router.add_get("/api/clinic/sign-in", sign_in_options)
