"""Simulated enterprise systems for the demo and the tests: small but real HTTP services standing
in for the CRM, PSA and ERP (each with its own SQLite database, auth, rate limit, fault
injection, idempotency keys and signed CloudEvents webhooks), and the SQLite database of the
acquired firm's legacy ERP. See docs/sandbox.md.

A leaf package: it imports nothing from the rest of the runtime, so flows can only reach these
systems the way they reach real ones — through connectors.
"""

from runtime.sandbox._service import Service, ServiceSettings
from runtime.sandbox._store import count_records
from runtime.sandbox.crm import CrmService
from runtime.sandbox.erp import ErpService
from runtime.sandbox.faults import FaultConfig
from runtime.sandbox.legacy import create_legacy_db, legacy_url
from runtime.sandbox.psa import PsaService
from runtime.sandbox.ratelimit import RateLimit
from runtime.sandbox.server import DEFAULT_PORTS, Sandbox, ServiceServer, start_all
from runtime.sandbox.webhooks import SIGNATURE_HEADER, sign, verify

__all__ = [
    "DEFAULT_PORTS",
    "SIGNATURE_HEADER",
    "CrmService",
    "ErpService",
    "FaultConfig",
    "PsaService",
    "RateLimit",
    "Sandbox",
    "Service",
    "ServiceServer",
    "ServiceSettings",
    "count_records",
    "create_legacy_db",
    "legacy_url",
    "sign",
    "start_all",
    "verify",
]
