"""Connector kinds; importing the package registers every kind."""

from runtime.connectors import file, http, mock, sql  # noqa: F401 - registration
from runtime.connectors.base import (
    CONNECTOR_KINDS,
    CallRequest,
    Connector,
    ConnectorConfig,
    Operation,
)
from runtime.connectors.secrets import redact, redact_value, register_secret, resolve_secret

__all__ = [
    "CONNECTOR_KINDS",
    "CallRequest",
    "Connector",
    "ConnectorConfig",
    "Operation",
    "redact",
    "redact_value",
    "register_secret",
    "resolve_secret",
]
