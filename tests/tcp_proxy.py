"""A TCP proxy the tests can cut, to make a database vanish for a while without stopping it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; `outage(seconds)` drops and refuses connections.

    `server`: a listening socket to forward from instead (one made in another network
    namespace, say: tests.netns)."""

    def __init__(
        self, target_host: str, target_port: int, *, server: socket.socket | None = None
    ) -> None:
        self.target = (target_host, target_port)
        self._server = server or socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._down_until = 0.0
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def outage(self, seconds: float) -> None:
        """Close every open connection now and refuse new ones for `seconds`."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            for sock in list(self._sockets):
                _close(sock)
            self._sockets.clear()

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def close(self) -> None:
        self._closed = True
        self.outage(0)
        _close(self._server)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if self.down:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                # The timeout was for connecting: an idle connection (a LISTEN, a pooled
                # one) must not be cut after 5 s of quiet.
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            _close(source)
            _close(sink)
            with self._lock:
                self._sockets -= {source, sink}


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
