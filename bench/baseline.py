"""The hand-written baseline: `opportunity_to_project` as a plain Python function.

What an engineer would write without seamline, doing the same work per event: check the
CloudEvents envelope and the contract version `dataschema` names (jsonschema-rs, compiled
once), route on type and stage, look up the legal entity, validate currency and amounts, build
every request exactly as the flow and its templates do, call in-memory systems that answer like
`tests/mocks/opportunity_to_project.yaml` (including the first 503 of `erp.create_customer`, so
the retry runs), validate and emit `ps.project.activated`, and return the flow's output.
It keeps no step trace, journal or compensation log; seamline does.

`bench/flow.py` checks that for every valid example both produce the same calls (operation and
input), the same emitted data and the same output before timing anything.
"""

from __future__ import annotations

import calendar
import json
import uuid
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import jsonschema_rs
import yaml

EVENT_TYPE = "crm.opportunity.closed_won"
MINOR_UNITS = {"JPY": 0, "KWD": 3}  # enough for the reference currencies (all others: 2)


class Rejected(Exception):
    """The event failed the envelope or contract check."""


class FlowFailed(Exception):
    """A business rule stopped the run (unknown entity, currency, amounts)."""


class TransientError(Exception):
    """A retryable answer (503)."""


class InMemorySystems:
    """ERP, PSA and CRM answering like the mocks file; records every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, str]] = []
        self._create_customer_attempts = 0

    def _record(self, operation: str, payload: Any, key: str) -> None:
        self.calls.append((operation, payload, key))

    def find_customer(self, payload: dict[str, Any], key: str) -> Any:
        self._record("erp.find_customer", payload, key)
        return None

    def create_customer(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("erp.create_customer", payload, key)
        self._create_customer_attempts += 1
        if self._create_customer_attempts == 1:
            raise TransientError("503 Service Unavailable: ERP is busy, retry later")
        return {"id": "CUS-100482", "name": payload.get("name"), "tax_id": payload.get("tax_id"),
                "subsidiary_id": payload.get("subsidiary_id"), "currency": payload.get("currency"),
                "crm_account_id": payload.get("crm_account_id"), "status": "active"}  # fmt: skip

    def create_contract(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("erp.create_contract", payload, key)
        return {"id": "CTR-500871", "customer_id": payload["customer_id"],
                "opportunity_id": payload["opportunity_id"], "total_value": payload["total_value"],
                "currency": payload["currency"], "status": "active"}  # fmt: skip

    def create_project(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("psa.create_project", payload, key)
        return {"id": "PRJ-200871", "name": payload["name"],
                "opportunity_id": payload["opportunity_id"], "status": "planned"}  # fmt: skip

    def create_task(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("psa.create_task", payload, key)
        ref = payload["external_ref"]
        return {"id": f"TSK-410{ref[4:]}", "project_id": payload["project_id"],
                "external_ref": ref, "planned_hours": payload["planned_hours"]}  # fmt: skip

    def create_milestone(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("psa.create_milestone", payload, key)
        ref = payload["external_ref"]
        return {"id": f"MST-610{ref[3:]}", "project_id": payload["project_id"],
                "external_ref": ref, "status": "open"}  # fmt: skip

    def create_billing_schedule(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("erp.create_billing_schedule", payload, key)
        return {"id": "BSC-300871", "contract_id": payload.get("contract_id"),
                "type": payload.get("type"), "entry_count": len(payload.get("entries") or []),
                "status": "active"}  # fmt: skip

    def activate_project(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("psa.activate_project", payload, key)
        return {"id": payload["id"], "status": "active", "contract_id": payload["contract_id"],
                "activated_at": "2026-10-30T21:04:19Z"}  # fmt: skip

    def update_opportunity(self, payload: dict[str, Any], key: str) -> dict[str, Any]:
        self._record("crm.update_opportunity", payload, key)
        return {"id": payload["id"], "psa_project_id": payload["psa_project_id"],
                "delivery_status": payload["delivery_status"]}  # fmt: skip


def _money(value: Any) -> Decimal:
    return Decimal(repr(value) if isinstance(value, float) else str(value))


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(str(value))


def sum_money(amounts: list[Any], currency: str) -> int | float:
    total = sum((_money(a) for a in amounts), Decimal(0))
    return _number(total.quantize(Decimal(1).scaleb(-MINOR_UNITS.get(currency, 2)), ROUND_HALF_UP))


def allocate(amount: Any, parts: int, currency: str) -> list[int | float]:
    """Equal parts in minor units; the remainder goes to the first parts."""
    units = MINOR_UNITS.get(currency, 2)
    rounded = _money(amount).quantize(Decimal(1).scaleb(-units), ROUND_HALF_UP)
    minor = int(rounded.scaleb(units))
    base, rest = divmod(minor, parts)
    return [_number(Decimal(base + (i < rest)).scaleb(-units)) for i in range(parts)]


def _add_months(day: date, months: int) -> date:
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return day.replace(year=year, month=month0 + 1,
                       day=min(day.day, calendar.monthrange(year, month0 + 1)[1]))  # fmt: skip


def _end_of_month(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def _iso_now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Baseline:
    """Validators, lookups and schemas loaded once, like the compiled Plan."""

    def __init__(self, workspace: Path, envelope_schema: dict[str, Any]) -> None:
        contracts = workspace / "contracts"
        self.envelope = jsonschema_rs.Draft7Validator(envelope_schema, validate_formats=False)
        self.versions: dict[str, Any] = {}
        files = sorted(
            (contracts / EVENT_TYPE).glob("v*.schema.json"),
            key=lambda f: int(f.name[1:].split(".")[0]),
        )
        for file in files:
            schema = json.loads(file.read_text(encoding="utf-8"))
            uri = (
                schema.get("$id") or f"urn:seamline:contract:{EVENT_TYPE}:{file.name.split('.')[0]}"
            )
            self.versions[uri] = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
        self.latest = self.versions[uri]
        activated = json.loads(
            (contracts / "ps.project.activated" / "v1.schema.json").read_text(encoding="utf-8")
        )
        self.activated_uri = activated.get("$id") or "urn:seamline:contract:ps.project.activated:v1"
        self.activated = jsonschema_rs.Draft202012Validator(activated, validate_formats=True)
        self.entities = yaml.safe_load(
            (workspace / "flows" / "lookups" / "legal_entities.yaml").read_text(encoding="utf-8")
        )
        self.customer_namespace = uuid.uuid5(uuid.NAMESPACE_URL, "seamline.crm.account")

    # -- validation and routing ------------------------------------------------------------
    def accepts(self, event: dict[str, Any]) -> bool:
        if not self.envelope.is_valid(event) or event.get("specversion") != "1.0":
            raise Rejected("envelope")
        validator = self.versions.get(event.get("dataschema"), self.latest)
        if not validator.is_valid(event.get("data")):
            raise Rejected("contract")
        return event["type"] == EVENT_TYPE and event["data"].get("stage") == "Closed Won"

    # -- the flow --------------------------------------------------------------------------
    def run(self, event: dict[str, Any], systems: InMemorySystems) -> dict[str, Any]:
        if not self.accepts(event):
            return {}
        data = event["data"]
        run_id = uuid.uuid4().hex[:20]
        started_at = _iso_now()
        entity = self.entities.get(str(data["legal_entity"]))
        currency = data["currency"]
        if entity is None:
            raise FlowFailed(f"legal entity {data['legal_entity']} is not set up")
        if currency not in entity["allowed_currencies"]:
            raise FlowFailed(f"{data['opportunity_id']}: cannot contract in {currency}")
        amount = data["amount"]
        milestones = data.get("milestones") or []
        if sum_money([line["amount"] for line in data["lines"]], currency) != amount or (
            data["billing_model"] == "milestone"
            and sum_money([m["amount"] for m in milestones], currency) != amount
        ):
            raise FlowFailed(f"{data['opportunity_id']}: amounts do not match")

        terms = data.get("payment_terms") or entity["default_payment_terms"]
        account = data["account"]
        customer = systems.find_customer({"tax_id": account["tax_id"]}, f"{run_id}:find_customer")
        customer_id = customer.get("id") if isinstance(customer, dict) else None
        if customer is None:
            address = account["billing_address"]
            payload = {
                "name": account["name"],
                "tax_id": account["tax_id"],
                "country": account["country"],
                "subsidiary_id": entity["erp_subsidiary"],
                "legal_entity": data["legal_entity"],
                "currency": currency,
                "payment_terms": terms,
                "crm_account_id": account["account_id"],
                "external_id": str(uuid.uuid5(self.customer_namespace, account["account_id"])),
                "industry": account.get("industry"),
                "account_manager_email": data["owner_email"],
                "billing_address": {
                    "line1": address["line1"],
                    "line2": address.get("line2"),
                    "city": address["city"],
                    "region": address.get("region"),
                    "postal_code": address["postal_code"],
                    "country": address["country"],
                },
            }
            for attempt in range(1, 6):
                try:
                    created = systems.create_customer(payload, f"{run_id}:create_customer")
                    break
                except TransientError:
                    if attempt == 5:
                        raise
                    # the real code sleeps min(2 ** attempt, 60) s here; the benchmark skips it
            customer_id = created["id"]

        contract = systems.create_contract(
            {
                "customer_id": customer_id,
                "subsidiary_id": entity["erp_subsidiary"],
                "legal_entity": data["legal_entity"],
                "currency": currency,
                "name": data["name"],
                "opportunity_id": data["opportunity_id"],
                "billing_model": data["billing_model"],
                "total_value": amount,
                "signed_on": data["close_date"],
                "start_date": data["start_date"],
                "end_date": data["end_date"],
                "payment_terms": terms,
                "purchase_order": data.get("purchase_order"),
                "lines": [
                    {
                        key: line.get(key)
                        for key in ("line_id", "description", "role", "hours", "rate", "amount")
                    }
                    for line in data["lines"]
                ],  # fmt: skip
            },
            f"{run_id}:create_contract",
        )
        project = systems.create_project(
            {
                "name": data["name"],
                "opportunity_id": data["opportunity_id"],
                "crm_account_id": account["account_id"],
                "customer_id": customer_id,
                "legal_entity": data["legal_entity"],
                "currency": currency,
                "billing_model": data["billing_model"],
                "practice": data.get("practice"),
                "start_date": data["start_date"],
                "end_date": data["end_date"],
                "budget": {"amount": amount, "hours": sum(line["hours"] for line in data["lines"])},
                "sales_owner_email": data["owner_email"],
                "status": "planned",
            },
            f"{run_id}:create_project",
        )
        task_ids = [
            systems.create_task(
                {
                    "project_id": project["id"],
                    "external_ref": line["line_id"],
                    "name": line["description"],
                    "role": line["role"],
                    "planned_hours": line["hours"],
                    "rate": line["rate"],
                    "budget": line["amount"],
                },
                f"{run_id}:create_tasks[{i}].create_task",
            )["id"]
            for i, line in enumerate(data["lines"])
        ]

        schedule = {
            "contract_id": contract["id"],
            "currency": currency,
            "total": amount,
            "payment_terms": data.get("payment_terms") or entity["default_payment_terms"],
            "purchase_order": data.get("purchase_order"),
        }
        model = data["billing_model"]
        if model == "milestone":
            milestone_ids = [
                systems.create_milestone(
                    {
                        "project_id": project["id"],
                        "external_ref": m["milestone_id"],
                        "name": m["name"],
                        "due_date": m["due_date"],
                        "amount": m["amount"],
                        "currency": currency,
                    },
                    f"{run_id}:create_milestones[{i}].create_milestone",
                )["id"]
                for i, m in enumerate(milestones)
            ]
            entries = [
                {"sequence": i + 1, "reference": m["milestone_id"],
                 "psa_milestone_id": milestone_ids[i],
                 "description": f"Milestone {i + 1}: {m['name']}", "planned_date": m["due_date"],
                 "amount": m["amount"], "trigger": "on_acceptance"}
                for i, m in enumerate(milestones)
            ]  # fmt: skip
            payload = {"contract_id": contract["id"], "type": "milestone", **schedule,
                       "entries": entries}  # fmt: skip
            billing = systems.create_billing_schedule(payload, f"{run_id}:milestone_schedule")
        elif model == "fixed_fee":
            first = date.fromisoformat(data["start_date"]).replace(day=1)
            end = _end_of_month(date.fromisoformat(data["end_date"]))
            count = (end.year - first.year) * 12 + end.month - first.month + 1
            amounts = allocate(amount, count, currency)
            entries = [
                {"sequence": i + 1,
                 "description": f"{data['name']} - fixed fee instalment {i + 1} of {count}",
                 "invoice_date": _end_of_month(_add_months(first, i)).isoformat(),
                 "amount": part}
                for i, part in enumerate(amounts)
            ]  # fmt: skip
            payload = {"contract_id": contract["id"], "type": "fixed_fee", **schedule,
                       "entries": entries}  # fmt: skip
            billing = systems.create_billing_schedule(payload, f"{run_id}:fixed_fee_schedule")
        else:
            payload = {
                "contract_id": contract["id"],
                "type": "time_and_materials",
                "currency": currency,
                "frequency": "monthly",
                "timing": "in_arrears",
                "first_invoice_date": _end_of_month(
                    date.fromisoformat(data["start_date"])
                ).isoformat(),
                "last_invoice_date": _end_of_month(
                    date.fromisoformat(data["end_date"])
                ).isoformat(),
                "not_to_exceed": amount,
                "rates": [{"role": line["role"], "rate": line["rate"]} for line in data["lines"]],
                "payment_terms": terms,
                "purchase_order": data.get("purchase_order"),
            }
            billing = systems.create_billing_schedule(payload, f"{run_id}:tm_schedule")

        activated = systems.activate_project(
            {"id": project["id"], "customer_id": customer_id, "contract_id": contract["id"],
             "billing_schedule_id": billing["id"]},
            f"{run_id}:activate_project",
        )  # fmt: skip
        systems.update_opportunity(
            {"id": data["opportunity_id"], "psa_project_id": project["id"],
             "erp_customer_id": customer_id, "erp_contract_id": contract["id"],
             "delivery_status": "Project Activated"},
            f"{run_id}:update_opportunity",
        )  # fmt: skip
        moment = datetime.fromisoformat(activated.get("activated_at") or started_at)
        emitted = {
            "project_id": project["id"],
            "opportunity_id": data["opportunity_id"],
            "customer_id": customer_id,
            "contract_id": contract["id"],
            "legal_entity": data["legal_entity"],
            "currency": currency,
            "billing_model": model,
            "start_date": data["start_date"],
            "end_date": data["end_date"],
            "budget": amount,
            "task_count": len(task_ids),
            "activated_at": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        if not self.activated.is_valid(emitted):
            raise FlowFailed("ps.project.activated does not match its contract")
        event_out = {
            "specversion": "1.0",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"seamline:{run_id}:project_activated")),
            "source": "/seamline/flows/opportunity_to_project",
            "type": "ps.project.activated",
            "subject": project["id"],
            "time": _iso_now(),
            "datacontenttype": "application/json",
            "dataschema": self.activated_uri,
            "data": emitted,
        }
        return {
            "output": {
                "project_id": project["id"],
                "customer_id": customer_id,
                "contract_id": contract["id"],
                "billing_schedule_id": billing["id"],
                "task_ids": task_ids,
            },
            "emitted": [event_out],
        }
