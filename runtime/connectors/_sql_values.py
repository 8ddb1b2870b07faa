"""What the sql connector makes of database values and database errors.

Rows become JSON: decimals become numbers, dates and times ISO 8601 strings, bytes base64.
Errors are classified for retries: a lost connection, a lock or a serialization failure is
transient; a constraint violation, bad SQL or bad data is permanent. Messages carry the
driver's first line only — never the bound parameters, which are business data.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import uuid
from decimal import Decimal
from typing import Any

import orjson

from runtime.connectors.secrets import connector_error
from runtime.errors import ConnectorError

# SQLite reports bad SQL as OperationalError too; these messages are not worth a retry
_SQLITE_PERMANENT = re.compile(
    r"no such (table|column|function)|syntax error|has no column|already exists|"
    r"incomplete input|unrecognized token|wrong number of|not authorized|readonly|read-only",
    re.IGNORECASE,
)
_PG_TIMEOUT = "57014"  # query_canceled: statement_timeout


def to_json(value: Any) -> Any:
    """A database value as a JSON value."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)


def to_parameter(value: Any) -> Any:
    """A JSON value as a bound parameter: scalars as they are, objects and lists as JSON text."""
    if isinstance(value, (dict, list)):
        return orjson.dumps(value).decode()
    return value


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def classify(exc: Exception, where: str, dialect: str) -> ConnectorError:
    """A SQLAlchemy or driver error as a ConnectorError with the right retry class."""
    from sqlalchemy import exc as sa_exc

    detail = f"{where}: {_first_line(exc)}"
    orig = getattr(exc, "orig", None)
    if isinstance(exc, sa_exc.IntegrityError):
        return connector_error(detail, transient=False, error_class="sql_integrity")
    if isinstance(exc, sa_exc.DataError):
        return connector_error(detail, transient=False, error_class="sql_data")
    if isinstance(exc, (sa_exc.ProgrammingError, sa_exc.NotSupportedError)):
        return connector_error(detail, transient=False, error_class="sql_programming")
    if getattr(orig, "sqlstate", None) == _PG_TIMEOUT:
        return connector_error(detail, transient=True, error_class="timeout")
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return connector_error(detail, transient=True, error_class="connection")
    if isinstance(exc, sa_exc.OperationalError):
        if dialect == "sqlite" and _SQLITE_PERMANENT.search(detail):
            return connector_error(detail, transient=False, error_class="sql_programming")
        return connector_error(detail, transient=True, error_class="sql_operational")
    if isinstance(exc, (sa_exc.InterfaceError, sa_exc.DisconnectionError, sa_exc.TimeoutError)):
        return connector_error(detail, transient=True, error_class="connection")
    if isinstance(exc, sa_exc.StatementError):  # e.g. a parameter the driver cannot bind
        return connector_error(detail, transient=False, error_class="sql_programming")
    return connector_error(detail, transient=False, error_class="sql_error")
