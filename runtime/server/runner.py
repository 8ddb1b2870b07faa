"""Running the app on uvicorn, with a drain on SIGTERM/SIGINT instead of an abrupt stop.

The first signal starts the drain: ingress answers 503, /readyz 503 (a load balancer stops
sending), the ops API keeps answering, runs in flight finish within the grace period. Then
uvicorn closes the connections and the process exits with status 0. A second signal stops at
once (runs cut short resume from their journal on the next start).
"""

from __future__ import annotations

import logging
import signal
import socket
from types import FrameType

import uvicorn

from runtime.server.app import create_app
from runtime.server.state import ServerState

log = logging.getLogger("seamline.server")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServerState) -> None:
        super().__init__(config)
        self.state = state
        state.on_drained.append(self._drained)

    def _drained(self) -> None:
        self.should_exit = True

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # unlike uvicorn's own handler, the signal is not re-raised after shutdown: a drained
        # server exits 0
        if self.state.drain_requested or not self.started:
            self.should_exit = True
            self.force_exit = self.force_exit or sig == signal.SIGINT
            return
        log.info("received %s: draining", signal.Signals(sig).name)
        self.state.request_drain()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: any free port); bound before the app starts, so a clash is
    reported at once and the port is known."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def serve(state: ServerState, sock: socket.socket, *, access_log: bool = False) -> None:
    """Serve until drained (blocks)."""
    config = uvicorn.Config(
        create_app(state),
        log_level="info",
        access_log=access_log,
        lifespan="on",
        timeout_graceful_shutdown=5,
        log_config=None,
    )
    DrainingServer(config, state).run(sockets=[sock])


__all__ = ["DrainingServer", "bind", "serve"]
