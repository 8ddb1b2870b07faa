"""Connector kinds; importing the package registers every kind."""

from runtime.connectors import http, mock  # noqa: F401 - registration
from runtime.connectors.base import (
    CONNECTOR_KINDS,
    CallRequest,
    Connector,
    ConnectorConfig,
    Operation,
)

__all__ = ["CONNECTOR_KINDS", "CallRequest", "Connector", "ConnectorConfig", "Operation"]
