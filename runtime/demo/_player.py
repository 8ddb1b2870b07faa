"""Plays the business day against the simulated systems, the way their users would.

Sales creates accounts and wins deals in the CRM, delivery books and approves time and change
orders in the PSA, finance posts invoices and records payments in the ERP. Each of these
changes is announced by the system's signed webhook, and that is all the runtime ever sees.
Besides: duplicate deliveries (an outbox event sent again), invalid events posted straight to
the ingress, accounts typed without a tax id, deals that break finance rules, and faults.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runtime.demo._api import Api, ApiError, StorePeek
from runtime.demo._business import COUNTRIES, Business
from runtime.demo._scale import Scale
from runtime.sandbox import FaultConfig, Sandbox

Progress = Callable[[str, int, int], None]  # (phase, done, total)
# Northwind's cut-over: invoices changed since then are the legacy ERP's own (the source
# legacy_erp.invoice_changes starts here); older ones came over with the migration.
CUT_OVER = "2026-01-01 00:00:00"


@dataclass
class Played:
    """What the day consisted of, as the people did it."""

    accounts: int = 0
    incomplete_accounts: int = 0
    duplicate_accounts: int = 0
    account_updates: int = 0
    deals: int = 0
    northwind_deals: int = 0
    rule_breaking_deals: int = 0
    timesheets: int = 0
    change_orders: int = 0
    invoices_posted: int = 0
    payments: int = 0
    redelivered: list[str] = field(default_factory=list)  # "<system>:<outbox seq>"
    invalid_sent: int = 0
    invalid_refused: int = 0
    seeded_discrepancies: int = 0
    user_retries: int = 0


class Player:
    def __init__(
        self,
        sandbox: Sandbox,
        token: str,
        workspace: Path,
        scale: Scale,
        seed: int,
        business: Business,
        progress: Progress,
    ) -> None:
        self.sandbox, self.scale, self.seed = sandbox, scale, seed
        self.business, self.progress = business, progress
        self.rng = random.Random(seed * 31 + 1)
        self.api = {s: Api(s, url, token, f"demo{seed}") for s, url in sandbox.urls.items()}
        self.ingress: httpx.Client | None = None  # the runtime's, once it is up (`connect`)
        self.workspace = workspace
        self.store = StorePeek(workspace / ".seamline" / "seamline.db")
        self.played = Played()
        self.accounts: list[tuple[str, dict[str, Any]]] = []  # (CRM id, account)
        # Northwind's active UK customers in the CRM (its new deals pick from these)
        self.legacy_accounts: list[tuple[str, dict[str, Any]]] = []

    def connect(self, runtime_url: str) -> None:
        """The runtime is up: the ingress the invalid events are posted to."""
        self.ingress = httpx.Client(base_url=runtime_url, timeout=30)

    # ── helpers ─────────────────────────────────────────────────────────────────────────
    def _each(self, phase: str, items: Iterable[Any], action: Callable[[Any], Any]) -> list[Any]:
        """Do `action` for every item on a few threads (people work in parallel)."""
        todo = list(items)
        results: list[Any] = []
        self.progress(phase, 0, len(todo))
        with ThreadPoolExecutor(max_workers=self.scale.people) as pool:
            for done, result in enumerate(pool.map(action, todo), start=1):
                results.append(result)
                self.progress(phase, done, len(todo))
        return results

    def settle(self, phase: str, timeout: float = 900.0) -> None:
        """Wait until every webhook is delivered and the runtime has nothing left to do."""
        deadline, quiet = time.monotonic() + timeout, 0
        while time.monotonic() < deadline:
            runs = self.store.runs()
            total = sum(runs.values())
            busy = self.store.busy()
            pending = sum(s.service.webhooks.pending() for s in self.sandbox.servers.values())
            self.progress(phase, total - busy, max(total, 1))
            quiet = quiet + 1 if busy == 0 and pending == 0 else 0
            if quiet >= 3:  # three looks in a row: nothing in flight between them
                return
            time.sleep(0.2)
        raise TimeoutError(f"the runtime did not settle within {timeout:.0f}s ({phase})")

    # ── before the day: the migration ───────────────────────────────────────────────────
    def migration(self) -> None:
        """Northwind's customers are in the CRM before the runtime starts, as the migration left
        them: its first poll of the legacy ERP finds an account for every invoiced customer.
        Their `crm.account.upserted` webhooks wait in the CRM's outbox until the runtime is up."""
        crm = self.api["crm"]
        legacy = self._legacy_customers(self.scale.northwind_known_customers)
        created = self._each(
            "migration: Northwind's customers in the CRM",
            legacy,
            lambda c: (crm.post("/accounts", c[0])["id"], c[0], c[1]),
        )
        self.legacy_accounts = [(i, a) for i, a, active_uk in created if active_uk]
        self.played.accounts += len(created)

    # ── morning: accounts ───────────────────────────────────────────────────────────────
    def morning(self) -> None:
        crm, scale, biz = self.api["crm"], self.scale, self.business
        new = [biz.account() for _ in range(scale.accounts)]
        new += [biz.account("GB") for _ in range(scale.northwind_new_customers)]
        self.accounts = self._each(
            "sales: accounts", new, lambda a: (crm.post("/accounts", a)["id"], a)
        )
        self.played.accounts += len(self.accounts)
        incomplete = [
            {k: v for k, v in biz.account().items() if k != "tax_id"}
            for _ in range(scale.incomplete_accounts)
        ]
        self._each(
            "sales: accounts without a tax id", incomplete, lambda a: crm.post("/accounts", a)
        )
        self.played.incomplete_accounts = len(incomplete)

    def _legacy_customers(self, count: int) -> list[tuple[dict[str, Any], bool]]:
        """CRM accounts for the customers Northwind brought along (they are in its legacy ERP),
        as the migration brought them over: every customer with a VAT number that has invoices
        changed since the cut-over (any status, any country; the flow legacy_invoice_status
        finds their accounts by VAT number), plus `count` other active UK customers. Each with
        whether it is an active UK customer (Northwind's new deals are for those)."""
        if self.sandbox.legacy_path is None:
            return []
        conn = sqlite3.connect(self.sandbox.legacy_path)
        try:
            rows = conn.execute(
                "SELECT c.CUST_NO, c.CUST_NAME, c.VAT_REG, c.ADDR_1, c.TOWN, c.POST_CODE, "
                "c.CTRY_CODE, c.CCY, c.STATUS_CD = 'A' AND c.CTRY_CODE = 'GB', "
                "EXISTS (SELECT 1 FROM INV_HEADER i WHERE i.CUST_NO = c.CUST_NO "
                "AND i.LAST_UPD_TS >= ?) "
                "FROM CUST_MASTER c WHERE TRIM(COALESCE(c.VAT_REG, '')) <> '' ORDER BY c.CUST_NO",
                (CUT_OVER,),
            ).fetchall()
        finally:
            conn.close()
        others = {r[0] for r in [r for r in rows if r[8] and not r[9]][:count]}
        out = []
        for cust_no, name, vat, line1, town, post, country, ccy, active_uk, invoiced in rows:
            if not invoiced and cust_no not in others:
                continue
            if country in COUNTRIES:
                account = self.business.account(country)
            else:  # a country the group does not sell in (Irish customers): a UK01 account
                account = self.business.account("GB")
                account.update(country=country, currency=ccy)
                account["billing_address"].pop("region", None)
            account.update(name=name.title(), tax_id=vat.replace(" ", "").upper())
            account["billing_address"].update(
                line1=line1.title(), city=town.title(), postal_code=post, country=country
            )
            out.append((account, bool(active_uk)))
        return out

    def account_changes(self) -> None:
        """Sales edits some accounts (synced again) and creates a few twice, under the same tax
        id with another name (the ERP has one customer per tax id: those runs dead-letter)."""
        crm, rng = self.api["crm"], self.rng
        updates = rng.sample(self.accounts, min(self.scale.account_updates, len(self.accounts)))
        self._each(
            "sales: accounts edited",
            updates,
            lambda a: crm.patch(f"/accounts/{a[0]}", {"industry": "Updated by sales"}),
        )
        self.played.account_updates = len(updates)
        twins = []
        for _, account in rng.sample(
            self.accounts, min(self.scale.duplicate_accounts, len(self.accounts))
        ):
            twins.append({**account, "name": account["name"].replace(" ", "  ", 1)})
        self._each("sales: accounts entered twice", twins, lambda a: crm.post("/accounts", a))
        self.played.duplicate_accounts = len(twins)

    # ── midday: deals ───────────────────────────────────────────────────────────────────
    def deals(self) -> None:
        crm, scale, rng = self.api["crm"], self.scale, self.rng
        plans: list[dict[str, Any]] = []
        uk = [a for a in self.accounts if a[1]["country"] == "GB"]
        for i in range(scale.deals):
            northwind = i < scale.northwind_deals
            if northwind:
                pool = self.legacy_accounts if i % 2 and self.legacy_accounts else uk
            else:
                pool = self.accounts
            account_id, account = rng.choice(pool)
            plans.append(self.business.deal(account, account_id, northwind=northwind))
            self.played.northwind_deals += int(northwind)
        for plan in plans[scale.northwind_deals :][: scale.rule_breaking_deals]:
            if rng.random() < 0.5 and plan["legal_entity"] != "UK01":
                plan["currency"] = "GBP"  # sales picked a currency the entity cannot invoice in
            else:
                plan["amount"] += 1000  # a discount typed on the total, not on the lines
            self.played.rule_breaking_deals += 1
        rng.shuffle(plans)

        def win(deal: dict[str, Any]) -> None:
            opportunity = crm.post("/opportunities", deal)
            crm.post(f"/opportunities/{opportunity['id']}/close-won", {})

        self._each("sales: deals won", plans, win)
        self.played.deals = len(plans)

    # ── afternoon: delivery ─────────────────────────────────────────────────────────────
    def delivery(self) -> None:
        psa, crm, scale, rng = self.api["psa"], self.api["crm"], self.scale, self.rng
        projects = [
            p for p in psa.every("/projects", status="active") if p.get("legal_entity") != "UK02"
        ]
        if not projects:
            return
        tasks = {p["id"]: psa.every(f"/projects/{p['id']}/tasks") for p in projects}
        sheets = []
        for n in range(scale.timesheets):
            project = rng.choice(projects)
            sheet = self.business.timesheet(project["id"], tasks[project["id"]], n % 60)
            if n < scale.unpriced_timesheets:
                sheet["role"] = "Graduate Analyst"  # a role the rate card does not price
            sheets.append(sheet)

        def book(sheet: dict[str, Any]) -> None:
            submitted = psa.post("/timesheets", sheet)
            psa.post(
                f"/timesheets/{submitted['id']}/approve",
                {"approved_by": "pm@meridian-consulting.example"},
            )

        self._each("delivery: timesheets approved", sheets, book)
        self.played.timesheets = len(sheets)
        changes = []
        for n in range(scale.change_orders):  # each added line gets a new OLI number per project
            project = rng.choice(projects)
            changes.append((project, 100 + n))

        def change(pick: tuple[dict[str, Any], int]) -> None:
            project, line = pick
            order = self.business.change_order(project["opportunity_id"], project["currency"], line)
            created = crm.post("/change-orders", order)
            crm.post(
                f"/change-orders/{created['id']}/approve", {"approved_by": "customer@example.com"}
            )

        self._each("delivery: change orders approved", changes, change)
        self.played.change_orders = len(changes)

    def duplicates(self) -> None:
        """Systems re-send some webhooks they already delivered (same CloudEvent id). Only
        deliveries older than a few seconds: a byte-identical body signed within the same second
        carries the same signature, which the ingress refuses as a replay (`hook.replayed`)."""
        picks = []
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 3))
        for system, api in self.api.items():
            outbox = api.get("/_admin/events", status="delivered")["items"]
            picks += [(system, e["seq"]) for e in outbox if (e["delivered_at"] or "") < before]
        chosen = self.rng.sample(picks, min(self.scale.redeliveries, len(picks)))
        self._each(
            "systems: duplicate webhooks",
            chosen,
            lambda p: self.api[p[0]].post(f"/_admin/events/{p[1]}/redeliver"),
        )
        self.played.redelivered = [f"{s}:{seq}" for s, seq in chosen]

    # ── late afternoon: finance ─────────────────────────────────────────────────────────
    def finance(self) -> None:
        erp, rng = self.api["erp"], self.rng
        drafts = [i for i in erp.every("/invoices", status="draft") if i.get("lines")]
        posted = self._each(
            "finance: invoices posted",
            drafts[: self.scale.invoices_posted],
            lambda i: erp.post(f"/invoices/{i['id']}/post"),
        )
        self.played.invoices_posted = len(posted)

        def pay(invoice: dict[str, Any]) -> None:
            part = invoice["total"] if rng.random() < 0.7 else round(invoice["total"] / 2, 2)
            erp.post(
                f"/invoices/{invoice['id']}/payments",
                {
                    "amount": part,
                    "currency": invoice["currency"],
                    "received_on": self.business.today.isoformat(),
                    "method": rng.choice(["wire", "ach", "sepa"]),
                    "reference": f"REMITTANCE {invoice['id']}",
                },
            )

        paid = self._each("finance: payments received", posted[: self.scale.payments], pay)
        self.played.payments = len(paid)

    def invalid_events(self, contracts: Path) -> None:
        """Events posted straight to the ingress that break their contract (the contracts'
        own invalid examples, with fresh ids): each must be refused with 4xx."""
        files = sorted(contracts.glob("*/examples/invalid/*.json"))
        picked = self.rng.sample(files, min(self.scale.invalid_events, len(files)))

        def send(file: Path) -> int:
            event = json.loads(file.read_text(encoding="utf-8"))
            event["id"] = f"demo-invalid-{self.seed}-{file.parent.parent.parent.name}-{file.stem}"
            assert self.ingress is not None, "connect() first: the runtime is not up"
            return self.ingress.post("/events", json=event).status_code

        statuses = self._each("integrations: invalid events", picked, send)
        self.played.invalid_sent = len(statuses)
        self.played.invalid_refused = sum(1 for s in statuses if 400 <= s < 500)

    # ── night: what the reconciliation must find ────────────────────────────────────────
    def seed_discrepancies(self) -> None:
        erp = self.api["erp"]
        customers = erp.every("/customers")
        edited = self.rng.sample(customers, min(2, len(customers)))
        for customer in edited:  # Finance retypes a name in the ERP
            erp.patch(f"/customers/{customer['id']}", {"name": customer["name"].upper()})
        business = self.business.account("US")  # created in the ERP by hand, for an old account id
        erp.post(
            "/customers",
            {k: business[k] for k in ("name", "tax_id", "country", "currency", "legal_entity")}
            | {"crm_account_id": "ACC-19999"},
        )
        self.played.seeded_discrepancies = len(edited) + 1

    def faults(self, on: bool) -> None:
        if not on:
            self.sandbox.set_faults(FaultConfig(seed=self.seed))
            return
        s = self.scale
        self.sandbox.set_faults(
            FaultConfig(
                error_rate=s.error_rate, latency=s.latency, jitter=s.latency, seed=self.seed
            ),
            "crm",
            "psa",
        )
        self.sandbox.set_faults(
            FaultConfig(
                error_rate=s.erp_error_rate,
                latency=s.latency,
                jitter=s.latency,
                timeout_rate=s.timeout_rate,
                hang=4.0,
                seed=self.seed,
            ),
            "erp",
        )

    def close(self) -> None:
        self.played.user_retries = sum(api.retries for api in self.api.values())
        for api in self.api.values():
            api.close()
        if self.ingress is not None:
            self.ingress.close()


__all__ = ["ApiError", "Played", "Player"]
