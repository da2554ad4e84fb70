"""Accept only requests addressed to the server itself: an ASGI middleware on Solara's app.

A page on another site cannot talk to the local server through the browser: with DNS rebinding
its requests carry its own host name in ``Host``, and a cross-site websocket or POST carries its
own ``Origin``. So every HTTP request and websocket handshake must name one of the served
addresses in ``Host``, and an ``Origin``, when there is one, must be ``http://`` one of them.
Anything else gets 403 (a websocket handshake is refused before it is accepted, so never 101).
Non-browser clients that send no ``Origin`` are let through on the ``Host`` check alone.
"""

from __future__ import annotations

import ipaddress
import socket

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")


def _host_port(name: str, port: int) -> str:
    """``name:port`` as it appears in a Host header (IPv6 addresses in brackets)."""
    name = name.strip("[]")
    try:
        if ipaddress.ip_address(name).version == 6:
            name = f"[{name}]"
    except ValueError:
        pass
    return f"{name.lower()}:{port}"


def served_hosts(host: str, port: int, extra: tuple[str, ...] = ()) -> frozenset[str]:
    """The ``Host`` values the server answers: ``host:port`` for the interface it binds; the
    loopback names (127.0.0.1, localhost, [::1]) when that is a loopback address; for a wildcard
    bind (0.0.0.0, ::) the loopback names, this machine's host name and its addresses; and the
    names in ``extra`` (``--allow-host``). Port 80 is also accepted without the port."""
    bare = host.strip("[]")
    names = {bare, *extra}
    if bare in LOOPBACK_NAMES or _is_loopback(bare):
        names.update(LOOPBACK_NAMES)
    if bare in WILDCARDS:
        names.discard(bare)
        names.update(LOOPBACK_NAMES)
        names.update(_own_names())
    out = {_host_port(n, port) for n in names}
    if port == 80:
        out |= {h.rsplit(":", 1)[0] for h in out}
    return frozenset(out)


def _is_loopback(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _own_names() -> set[str]:
    """This machine's host name, its fully qualified name and the addresses they resolve to."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            names.update(info[4][0] for info in socket.getaddrinfo(name, None))
        except OSError:
            pass
    return {n for n in names if n}


class HostOriginGuard:
    """ASGI middleware: 403 for HTTP requests and websocket handshakes whose ``Host`` is not one
    of ``allowed`` or whose ``Origin`` is not ``http://`` one of them."""

    def __init__(self, app, allowed: frozenset[str] | set[str]):
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)
        self.origins = frozenset(f"http://{h}" for h in self.allowed)

    def refuses(self, headers: list[tuple[bytes, bytes]]) -> str | None:
        """Why a request with these headers is refused, or None."""
        host = origin = None
        for k, v in headers:
            if k == b"host":
                host = v.decode("latin-1").strip().lower()
            elif k == b"origin":
                origin = v.decode("latin-1").strip().lower()
        if host not in self.allowed:
            return "Host"
        if origin is not None and origin not in self.origins:
            return "Origin"
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        why = self.refuses(scope.get("headers", []))
        if why is None:
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":  # refused before accept: uvicorn answers the handshake with 403
            await send({"type": "websocket.close", "code": 1008})
            return
        body = f"403 Forbidden: {why} is not this server's address\n".encode()
        await send({"type": "http.response.start", "status": 403,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
