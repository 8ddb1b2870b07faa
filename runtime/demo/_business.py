"""The business of one day, made up deterministically from a seed: customers, deals, time.

Everything here is plain data for the simulated systems' APIs — what sales, delivery and finance
people would type. Nothing talks to a system; `_player.py` sends it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

# country -> (legal entity, currency, cities with postal codes, region needed)
COUNTRIES: dict[str, tuple[str, str, list[tuple[str, str]]]] = {
    "US": (
        "US01",
        "USD",
        [
            ("Chicago", "60601"),
            ("Seattle", "98101"),
            ("Austin", "78701"),
            ("Boston", "02110"),
            ("Denver", "80202"),
        ],
    ),
    "GB": (
        "UK01",
        "GBP",
        [
            ("Leeds", "LS1 4DL"),
            ("Bristol", "BS1 5TR"),
            ("Manchester", "M1 3BE"),
            ("Glasgow", "G1 2FF"),
            ("Cardiff", "CF10 1EP"),
        ],
    ),
    "DE": (
        "DE01",
        "EUR",
        [("Hamburg", "20095"), ("Munich", "80331"), ("Cologne", "50667"), ("Stuttgart", "70173")],
    ),
    "NL": ("DE01", "EUR", [("Rotterdam", "3011 AD"), ("Utrecht", "3511 LX")]),
    "FR": ("FR01", "EUR", [("Lyon", "69002"), ("Lille", "59000"), ("Nantes", "44000")]),
}
COUNTRY_WEIGHTS = {"US": 35, "GB": 25, "DE": 18, "NL": 7, "FR": 15}
REGIONS = {"Chicago": "IL", "Seattle": "WA", "Austin": "TX", "Boston": "MA", "Denver": "CO"}
FIRST = [
    "Harbor",
    "Summit",
    "Northgate",
    "Riverside",
    "Cobalt",
    "Meridian",
    "Lakeview",
    "Granite",
    "Beacon",
    "Silverline",
    "Oakridge",
    "Redwood",
    "Bluewater",
    "Ironbridge",
    "Kestrel",
    "Fairmont",
    "Highfield",
    "Stonebridge",
    "Westbrook",
    "Clearwater",
]
SECOND = [
    "Logistics",
    "Health",
    "Energy",
    "Foods",
    "Insurance",
    "Retail",
    "Manufacturing",
    "Water",
    "Rail",
    "Pharma",
    "Media",
    "Telecom",
    "Capital",
    "Hotels",
    "Mobility",
]
SUFFIX = {"US": "Inc.", "GB": "Ltd", "DE": "GmbH", "NL": "B.V.", "FR": "SA"}
STREETS = [
    "Market Street",
    "Station Road",
    "Harbour Way",
    "Park Avenue",
    "Mill Lane",
    "Hauptstrasse",
    "Rue de la Paix",
    "Kade",
    "Quayside",
    "King Street",
]
PEOPLE = [
    "amy.shaw",
    "tom.ashworth",
    "lena.vogt",
    "marc.dubois",
    "sara.kim",
    "raj.patel",
    "ines.moreau",
    "jan.devries",
    "olivia.hughes",
    "ben.carter",
]
PRACTICES = ["Data & AI", "Cloud & Infrastructure", "Digital Engineering"]
# role -> rate per currency, as on flows/lookups/rate_cards.yaml
ROLES = {
    "Engagement Manager": {"USD": 275, "GBP": 195, "EUR": 220},
    "Solution Architect": {"USD": 240, "GBP": 170, "EUR": 170},
    "Senior Consultant": {"USD": 210, "GBP": 150, "EUR": 175},
    "Consultant": {"USD": 155, "GBP": 110, "EUR": 125},
    "Senior Data Engineer": {"USD": 185, "GBP": 140, "EUR": 150},
    "Data Engineer": {"USD": 165, "GBP": 120, "EUR": 120},
    "UX Designer": {"USD": 180, "GBP": 125, "EUR": 140},
}
WORK = [
    "Discovery and target design",
    "Platform build",
    "Data migration",
    "Integration build",
    "Testing and cut-over",
    "Dashboards and reporting",
    "Hypercare",
]
PROJECTS = [
    "Data Platform",
    "Cloud Migration",
    "Customer Portal",
    "Analytics Rollout",
    "Integration Hub",
    "Forecasting Pilot",
    "App Modernisation",
]
GROUP_DOMAIN = "meridian-consulting.example"
NORTHWIND_DOMAIN = "northwind-consulting.example"


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


@dataclass
class Business:
    """Deterministic business data for one demo day."""

    seed: int
    today: date

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self._tax = 0
        self._names: set[str] = set()

    # ── accounts ────────────────────────────────────────────────────────────────────────
    def account(self, country: str | None = None) -> dict[str, Any]:
        rng = self.rng
        country = country or rng.choices(list(COUNTRY_WEIGHTS), list(COUNTRY_WEIGHTS.values()))[0]
        entity, currency, cities = COUNTRIES[country]
        city, postal = rng.choice(cities)
        name = self._name(country)
        address = {
            "line1": f"{rng.randrange(1, 400)} {rng.choice(STREETS)}",
            "city": city,
            "postal_code": postal,
            "country": country,
        }
        if city in REGIONS:
            address["region"] = REGIONS[city]
        return {
            "name": name,
            "tax_id": self.tax_id(country),
            "country": country,
            "legal_entity": entity,
            "currency": currency,
            "billing_address": address,
            "industry": name.split()[1],
            "owner_email": f"{rng.choice(PEOPLE)}@{GROUP_DOMAIN}",
        }

    def _name(self, country: str) -> str:
        while True:
            name = f"{self.rng.choice(FIRST)} {self.rng.choice(SECOND)} {SUFFIX[country]}"
            if name not in self._names:
                self._names.add(name)
                return name
            self._names.add(name)
            name = f"{name.rsplit(' ', 1)[0]} {len(self._names)} {SUFFIX[country]}"
            if name not in self._names:
                self._names.add(name)
                return name

    def tax_id(self, country: str) -> str:
        self._tax += 1
        n = self.seed * 100_003 + self._tax * 7919
        if country == "US":
            return f"{10 + n % 89:02d}-{n % 10_000_000:07d}"
        if country == "FR":
            return f"FR{n % 10**11:011d}"
        if country == "NL":
            return f"NL{n % 10**9:09d}B01"
        return f"{country}{n % 10**9:09d}"

    # ── deals ───────────────────────────────────────────────────────────────────────────
    def deal(
        self, account: dict[str, Any], account_id: str, *, northwind: bool = False
    ) -> dict[str, Any]:
        """An opportunity ready to be won: priced lines (rate card rates) that add up."""
        rng = self.rng
        currency = "GBP" if northwind else account["currency"]
        model = rng.choices(["time_and_materials", "fixed_fee", "milestone"], [45, 35, 20])[0]
        start = monday(self.today) + timedelta(weeks=rng.randrange(1, 6))
        end = start + timedelta(days=rng.randrange(60, 240))
        lines = []
        for i, role in enumerate(rng.sample(list(ROLES), rng.randrange(1, 4)), start=1):
            hours, rate = 8 * rng.randrange(5, 50), ROLES[role][currency]
            lines.append(
                {
                    "line_id": f"OLI-{i:03d}",
                    "description": rng.choice(WORK),
                    "role": role,
                    "hours": hours,
                    "rate": rate,
                    "amount": hours * rate,
                }
            )
        amount = sum(line["amount"] for line in lines)
        deal: dict[str, Any] = {
            "name": f"{account['name'].split(' ')[0]} - {rng.choice(PROJECTS)}",
            "account_id": account_id,
            "stage": "Negotiation",
            "legal_entity": "UK02" if northwind else account["legal_entity"],
            "currency": currency,
            "amount": amount,
            "billing_model": model,
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "owner_email": f"{rng.choice(PEOPLE)}@{NORTHWIND_DOMAIN if northwind else GROUP_DOMAIN}",
            "practice": rng.choice(PRACTICES),
            "lines": lines,
        }
        if model == "milestone":
            first = round(amount * 0.4)
            deal["milestones"] = [
                {
                    "milestone_id": "MS-001",
                    "name": "Design accepted",
                    "due_date": (start + timedelta(days=30)).isoformat(),
                    "amount": first,
                },
                {
                    "milestone_id": "MS-002",
                    "name": "Go-live accepted",
                    "due_date": end.isoformat(),
                    "amount": amount - first,
                },
            ]
        if rng.random() < 0.2:  # a customer purchase order and terms: a v2 event
            deal.update(purchase_order=f"PO-{rng.randrange(10**6, 10**7)}", payment_terms="NET45")
        return deal

    # ── delivery ────────────────────────────────────────────────────────────────────────
    def timesheet(
        self, project_id: str, tasks: list[dict[str, Any]], employee: int
    ) -> dict[str, Any]:
        """A week of time on some of the project's tasks, in the role of the first task."""
        rng = self.rng
        week = monday(self.today) - timedelta(weeks=1)
        picked = rng.sample(tasks, min(len(tasks), rng.randrange(1, 3)))
        entries = [
            {
                "date": (week + timedelta(days=d)).isoformat(),
                "task_id": rng.choice(picked)["id"],
                "hours": rng.choice([4, 6, 7.5, 8]),
                "billable": rng.random() > 0.05,
            }
            for d in sorted(rng.sample(range(5), rng.randrange(2, 6)))
        ]
        entries[0]["billable"] = True
        first, last = PEOPLE[employee % len(PEOPLE)].split(".")
        return {
            "project_id": project_id,
            "employee_id": f"EMP-{20000 + employee:05d}",
            "employee_name": f"{first.title()} {last.title()}",
            "role": picked[0].get("role") or "Consultant",
            "week_start": week.isoformat(),
            "entries": entries,
        }

    def change_order(self, opportunity_id: str, currency: str, next_line: int) -> dict[str, Any]:
        role = self.rng.choice(list(ROLES))
        hours, rate = 8 * self.rng.randrange(2, 20), ROLES[role][currency]
        return {
            "opportunity_id": opportunity_id,
            "reason": "Customer extended the scope",
            "amount_delta": hours * rate,
            "hours_delta": hours,
            "lines": [
                {
                    "line_id": f"OLI-{next_line:03d}",
                    "change_type": "added",
                    "description": self.rng.choice(WORK),
                    "role": role,
                    "hours": hours,
                    "rate": rate,
                    "amount": hours * rate,
                }
            ],
        }
