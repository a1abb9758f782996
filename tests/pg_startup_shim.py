"""A loopback TCP stand-in that lets redshift_connector talk to plain PostgreSQL. Test-only.

There is no Redshift to test against, but Redshift speaks the PostgreSQL wire
protocol, so the Redshift engine is exercised, through the real
redshift_connector, against the throwaway PostgreSQL cluster. Two things stop
the driver from connecting to PostgreSQL directly, and this shim fixes exactly
those and nothing else:

* the driver's StartupMessage carries Redshift-only keys (client_protocol_version,
  driver_version, os_version, plugin_name, ...). PostgreSQL takes every startup
  key as a setting and refuses the connection (FATAL 42704, unrecognized
  configuration parameter). The shim keeps only keys PostgreSQL knows.
* the driver parses the server's `server_version` with packaging.version, which
  fails on Debian's "15.18 (Debian 15.18-0+deb12u1)". The shim trims it to
  "15.18" in the ParameterStatus message sent during startup.

It answers "no" to SSL and GSS encryption requests (loopback only; the tests
connect with ssl=False) and passes CancelRequests through. After startup it
relays bytes both ways untouched, so every query, error and result is
PostgreSQL's own. It listens on 127.0.0.1 only, on an ephemeral port.

Nothing here is part of journey-sql; it must never be used against a real
warehouse.
"""

from __future__ import annotations

import socket
import struct
import threading
from types import TracebackType

PROTOCOL_V3 = 196608
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
MAX_STARTUP_BYTES = 10_000  # PostgreSQL's own limit for a startup packet

# Startup keys PostgreSQL understands; anything else is dropped. Keys with a dot
# are custom settings (e.g. "rs.x"), which PostgreSQL accepts.
KEPT_STARTUP_KEYS = frozenset(
    {
        "user",
        "database",
        "options",
        "replication",
        "application_name",
        "client_encoding",
        "datestyle",
        "timezone",
        "search_path",
        "extra_float_digits",
    }
)


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("peer closed the connection during startup")
        buf += chunk
    return bytes(buf)


def filter_startup(body: bytes, dropped: list[str] | None = None) -> bytes:
    """A StartupMessage (given without its length word) with only the keys PostgreSQL accepts."""
    (protocol,) = struct.unpack("!i", body[:4])
    fields = body[4:].split(b"\0")  # key, value, key, value, ..., "", ""
    out = bytearray(struct.pack("!i", protocol))
    for key, value in zip(fields[0:-2:2], fields[1:-1:2], strict=False):
        name = key.decode("utf-8", "replace")
        if name.lower() in KEPT_STARTUP_KEYS or "." in name:
            out += key + b"\0" + value + b"\0"
        elif dropped is not None:
            dropped.append(name)
    out += b"\0"
    return struct.pack("!i", len(out) + 4) + bytes(out)


def _trim_server_version(kind: bytes, body: bytes) -> bytes:
    """A ParameterStatus for server_version with the distribution suffix cut off."""
    prefix = b"server_version\0"
    if kind != b"S" or not body.startswith(prefix):
        return body
    version = body[len(prefix) : -1].split(b" ")[0]
    return prefix + version + b"\0"


class StartupShim:
    """`with StartupShim(pg_port) as shim:` then connect redshift_connector to 127.0.0.1:shim.port."""

    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1", timeout: float = 10.0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.timeout = timeout
        self.dropped_keys: list[str] = []  # what the driver sent that PostgreSQL would refuse
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._acceptor = threading.Thread(target=self._accept, name="pg-startup-shim", daemon=True)
        self._acceptor.start()

    def __enter__(self) -> StartupShim:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            self._close(sock)
        self._acceptor.join(timeout=5)

    # -- plumbing ----------------------------------------------------------------
    def _track(self, sock: socket.socket) -> socket.socket:
        # Relaying small protocol messages with Nagle's algorithm on costs a
        # delayed-ACK wait (~40 ms) per round trip.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self._sockets.add(sock)
        return sock

    def _close(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(self._track(client),), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            client.settimeout(self.timeout)
            first = self._startup(client)
            client.settimeout(None)
            upstream = self._track(socket.create_connection(self.upstream, timeout=self.timeout))
            upstream.settimeout(None)
            upstream.sendall(first)
            backend = threading.Thread(target=self._relay_backend, args=(upstream, client), daemon=True)
            backend.start()
            self._relay(client, upstream)
            backend.join()
        except (OSError, ConnectionError, struct.error):
            pass
        finally:
            self._close(client)
            if upstream is not None:
                self._close(upstream)

    def _startup(self, client: socket.socket) -> bytes:
        """Read the client's opening packets; return what to send upstream first."""
        while True:
            (length,) = struct.unpack("!i", _read_exactly(client, 4))
            if not 8 <= length <= MAX_STARTUP_BYTES:
                raise ConnectionError(f"implausible startup packet length {length}")
            body = _read_exactly(client, length - 4)
            (code,) = struct.unpack("!i", body[:4])
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                client.sendall(b"N")  # no encryption on loopback; the client goes on in plain text
                continue
            if code == PROTOCOL_V3:
                return filter_startup(body, self.dropped_keys)
            return struct.pack("!i", length) + body  # CancelRequest and the like

    def _relay_backend(self, upstream: socket.socket, client: socket.socket) -> None:
        """Server to client: message by message until the first ReadyForQuery (or error), then raw."""
        try:
            while True:
                head = _read_exactly(upstream, 5)
                kind = head[:1]
                body = _read_exactly(upstream, struct.unpack("!i", head[1:])[0] - 4)
                new_body = _trim_server_version(kind, body)
                client.sendall(kind + struct.pack("!i", len(new_body) + 4) + new_body)
                if kind in (b"Z", b"E"):
                    break
        except (OSError, ConnectionError, struct.error):
            self._half_close(upstream, client)
            return
        self._relay(upstream, client)

    def _relay(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._half_close(src, dst)

    @staticmethod
    def _half_close(src: socket.socket, dst: socket.socket) -> None:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass
