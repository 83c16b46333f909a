"""What stands between the network and the catalog: the bearer token, Host and Origin checks,
content type and body size. One pure-ASGI middleware, so a refused request costs no routing, no
parsing and no catalog access.

- Bound to a loopback address, the server needs no token; bound anywhere else it refuses to start
  without one (generated on first use, stored beside the catalog with mode 0600).
- The Host header must name this server (loopback names, the bind address, `[serve]
  allowed_hosts`): a page on another site that resolves its name to 127.0.0.1 (DNS rebinding)
  is refused.
- A request that changes something and carries an Origin must come from one of those hosts (a
  page elsewhere cannot post captures through the owner's browser).
- POST bodies must be JSON and at most `max_body_bytes` (checked as they arrive, not only by
  Content-Length).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """Whether binding `host` keeps the server on this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def token_path(catalog_path: Path) -> Path:
    return catalog_path.parent / "serve.token"


def load_or_create_token(catalog_path: Path) -> str:
    """The server's bearer token: read from its file, or generated into a new file readable by
    the owner only. A file others can read is tightened, not trusted as is."""
    path = token_path(catalog_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        token = path.read_text(encoding="ascii").strip()
        if len(token) >= 32:
            return token
        path.unlink()  # empty or truncated: make a new one
        return load_or_create_token(catalog_path)
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(token + "\n")
    return token


def allowed_hosts(bind: str, extra: list[str]) -> frozenset[str]:
    """Host names (without port) a request may address this server by."""
    names = set(LOOPBACK_NAMES) | {h.lower() for h in extra}
    if bind not in ("0.0.0.0", "::", ""):
        names.add(bind.strip("[]").lower())
    else:
        host = socket.gethostname().lower()
        names |= {host, f"{host}.local"}
    return frozenset(names)


def _host_of(value: str) -> str:
    """`[::1]:8765` → `::1`; `localhost:8765` → `localhost`."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Refusal(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.headers = status, headers or {}


class Guard:
    """The ASGI middleware; `token` None means no token is asked for (loopback only)."""

    def __init__(self, app: ASGIApp, hosts: frozenset[str], token: str | None, max_body: int,
                 any_ip_host: bool = False) -> None:  # fmt: skip
        self.app, self.hosts, self.token, self.max_body = app, hosts, token, max_body
        # Bound to every interface, a client may use any of this machine's addresses: an IP literal
        # cannot be a rebinding attack (those need a name), so any IP is accepted then.
        self.any_ip_host = any_ip_host

    def _host_ok(self, host: str) -> bool:
        if host in self.hosts:
            return True
        if self.any_ip_host:
            try:
                ipaddress.ip_address(host)
                return True
            except ValueError:
                return False
        return False

    def _check(self, scope: Scope) -> None:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        host = _host_of(headers.get("host", ""))
        if not self._host_ok(host):
            raise Refusal(421 if host else 400, f"this server does not answer to host {host!r}"
                          if host else "a Host header is required")  # fmt: skip
        method = scope["method"]
        origin = headers.get("origin")
        if method not in ("GET", "HEAD", "OPTIONS") and origin and origin != "null":
            if not self._host_ok(_host_of(urlsplit(origin).netloc)):
                raise Refusal(403, f"cross-origin request from {origin} refused")
        elif method not in ("GET", "HEAD", "OPTIONS") and origin == "null":
            raise Refusal(403, "cross-origin request from an opaque origin refused")
        if self.token is not None:
            auth = headers.get("authorization", "")
            scheme, _, given = auth.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                given.strip().encode(), self.token.encode()
            ):
                raise Refusal(401, "missing or wrong token: send Authorization: Bearer <token>"
                              " (the token is in serve.token beside the catalog)",
                              {"www-authenticate": 'Bearer realm="samdata"'})  # fmt: skip
        if method in ("POST", "PUT", "PATCH"):
            ctype = headers.get("content-type", "").split(";", 1)[0].strip().lower()
            # A body must be JSON; a request without one (a POST to a GET route) goes on to the
            # router and its 405, or to the missing-body 422.
            has_body = headers.get("content-length", "0") != "0" or "transfer-encoding" in headers
            if has_body and ctype != "application/json":
                raise Refusal(
                    415, f"send JSON (Content-Type: application/json), not {ctype or 'no content type'}"
                )
            length = headers.get("content-length")
            if length is not None:
                if not length.isdigit():
                    raise Refusal(400, "invalid Content-Length")
                if int(length) > self.max_body:
                    raise Refusal(413, f"request body over {self.max_body:,} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            self._check(scope)
        except Refusal as r:
            await _refuse(send, r)
            return
        seen = 0
        too_big = False

        async def counted() -> Message:
            # Past the limit the app is handed an end of body and whatever it answers is replaced
            # by a 413 (raising here would let the framework answer "error parsing the body").
            nonlocal seen, too_big
            if too_big:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    too_big = True
                    return {"type": "http.request", "body": b"", "more_body": False}
            return message

        async def watched_send(message: Message) -> None:
            if not too_big:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
                await send(message)
            elif message["type"] == "http.response.start":
                await _refuse(send, Refusal(413, f"request body over {self.max_body:,} bytes"))

        await self.app(scope, counted, watched_send)


# On every answer. The pages load only their own vendored CSS and JS: no inline script or style,
# no eval, nothing from elsewhere, no framing, no plugins, forms post only here.
SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self';"
        b" connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none';"
        b" object-src 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


async def _refuse(send: Send, r: Refusal) -> None:
    body = orjson.dumps({"error": str(r)})
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    headers += SECURITY_HEADERS
    headers += [(k.encode(), v.encode()) for k, v in r.headers.items()]
    await send({"type": "http.response.start", "status": r.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
