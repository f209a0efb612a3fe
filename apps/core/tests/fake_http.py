"""The request-handler base of the fake providers' HTTP servers (`fake_stripe`,
`fake_providers`): real HTTP/1.1 with keep-alive, as the providers' client libraries
expect, and every open connection tracked so stopping the fake can close them. No
Django imports: the fake Stripe server also runs as a process of its own."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any, Protocol


class TrackingFake(Protocol):
    """What the handler needs of its fake: a lock and the set of open connections."""

    _lock: threading.RLock
    _connections: set[Any]


class TrackedHandler(BaseHTTPRequestHandler):
    """Keep-alive, no Nagle delay (headers and body go out at once, no 40 ms
    delayed-ACK stalls), no access log; the server's `fake` tracks open connections."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def _fake(self) -> TrackingFake:
        return self.server.fake  # type: ignore[attr-defined, no-any-return]

    def setup(self) -> None:
        """Track the new connection."""
        super().setup()
        with self._fake()._lock:
            self._fake()._connections.add(self.connection)

    def finish(self) -> None:
        """Forget the connection; a client that went away is not an error."""
        with self._fake()._lock:
            self._fake()._connections.discard(self.connection)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:
        """No access log."""
