"""`seamline serve`: HTTP ingress and webhooks, the ops API, workers and hot reload."""

from runtime.server.app import create_app, route_table
from runtime.server.hooks import SIGNATURE_HEADER, sign
from runtime.server.runner import bind, serve
from runtime.server.state import ServerOptions, ServerState

__all__ = [
    "SIGNATURE_HEADER",
    "ServerOptions",
    "ServerState",
    "bind",
    "create_app",
    "route_table",
    "serve",
    "sign",
]
