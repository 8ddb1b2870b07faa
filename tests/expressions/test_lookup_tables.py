"""Lookup tables per entity (`flows/lookups/<entity>/<table>.yaml|csv`), defaults and misses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jmespath
import pytest

from runtime.compiler.plan import Plan
from runtime.compiler.workspace import check_workspace, compile_workspace
from runtime.expressions.functions import (
    IntegrationFunctions,
    LookupMissingError,
    jmespath_options,
)
from tests.conftest import WriteWorkspace, order_event, write_files
from tests.steps import run

TABLES: dict[str, Any] = {
    "flows/lookups/northwind_uk/codes.yaml": "O1: NW-001\nO2: NW-002\n",
    "flows/lookups/northwind_uk/accounts.csv": (
        "currency,account,label\nGBP,4000,Sales UK\n*,4999,Other\n"
    ),
    "flows/lookups/northwind_uk/tax.yaml": "'*': { vat: standard }\nGBP: { vat: uk }\n",
    "flows/lookups/northwind_uk/strict.csv": "id,x\nO9,1\n",
    "flows/lookups/acme/codes.yaml": "O1: AC-001\n",
    "flows/lookups/codes.yaml": "O1: ROOT-001\n",
}


def flow(values: str, name: str = "codes") -> dict[str, str]:
    return {
        f"flows/{name}.yaml": f"flow: {name}\non: {{ event: shop.order.placed }}\nsteps:\n"
        f"  - id: map\n    set:\n{values}"
    }


@pytest.fixture
def plan(workspace: WriteWorkspace) -> Plan:
    return compile_workspace(workspace({**TABLES, **flow("      n: 1\n")}))


def lookup(plan: Plan, expression: str) -> Any:
    """An expression evaluated with the workspace's functions, as a run evaluates it."""
    return jmespath.search(expression, None, options=jmespath_options(plan.functions))


def test_tables_in_an_entity_folder_are_named_entity_dot_table(plan: Plan) -> None:
    assert sorted(plan.lookups) == [
        "acme.codes",
        "codes",
        "northwind_uk.accounts",
        "northwind_uk.codes",
        "northwind_uk.strict",
        "northwind_uk.tax",
        "rates",
    ]
    assert plan.lookups["northwind_uk.codes"] == {"O1": "NW-001", "O2": "NW-002"}
    assert plan.lookups["acme.codes"] == {"O1": "AC-001"}
    assert plan.lookups["codes"] == {"O1": "ROOT-001"}


def test_yaml_and_csv_entity_tables_answer_lookups(plan: Plan) -> None:
    assert lookup(plan, "lookup('northwind_uk.codes', 'O2')") == "NW-002"
    assert lookup(plan, "lookup('acme.codes', 'O1')") == "AC-001"
    assert lookup(plan, "lookup('codes', 'O1')") == "ROOT-001"
    # a CSV row is the whole row, keyed by its first column; values stay text
    assert lookup(plan, "lookup('northwind_uk.accounts', 'GBP')") == {
        "currency": "GBP",
        "account": "4000",
        "label": "Sales UK",
    }
    assert lookup(plan, "lookup('northwind_uk.accounts', 'GBP').account") == "4000"


def test_the_star_key_is_the_tables_default(plan: Plan) -> None:
    assert lookup(plan, "lookup('northwind_uk.tax', 'DE')") == {"vat": "standard"}
    assert lookup(plan, "lookup('northwind_uk.tax', 'GBP')") == {"vat": "uk"}
    assert lookup(plan, "lookup('northwind_uk.accounts', 'EUR')") == {
        "currency": "*",
        "account": "4999",
        "label": "Other",
    }
    # the default is a copy: changing a result does not change the table
    first = lookup(plan, "lookup('northwind_uk.tax', 'DE')")
    first["vat"] = "changed"
    assert lookup(plan, "lookup('northwind_uk.tax', 'FR')") == {"vat": "standard"}


def test_an_explicit_default_wins_over_the_star_default(plan: Plan) -> None:
    assert lookup(plan, "lookup('northwind_uk.tax', 'DE', 'mine')") == "mine"
    assert lookup(plan, "lookup('northwind_uk.tax', 'DE', `null`)") is None
    assert lookup(plan, "lookup('northwind_uk.codes', 'O9', 'none')") == "none"
    # a key that is there beats both defaults
    assert lookup(plan, "lookup('northwind_uk.tax', 'GBP', 'mine')") == {"vat": "uk"}


def test_a_missing_key_without_any_default_names_the_table_and_the_key() -> None:
    functions = IntegrationFunctions(lookups={"northwind_uk.codes": {"O1": "NW-001"}})
    with pytest.raises(LookupMissingError) as caught:
        functions._func_lookup("northwind_uk.codes", "O7")
    assert (caught.value.table, caught.value.key) == ("northwind_uk.codes", "O7")
    assert "lookup table 'northwind_uk.codes' has no key 'O7'" in str(caught.value)


def test_a_missing_key_fails_the_run_with_expression_failed(workspace: WriteWorkspace) -> None:
    plan = compile_workspace(
        workspace(
            {
                **TABLES,
                **flow("      code: \"${ lookup('northwind_uk.strict', data.order_id) }\"\n"),
            }
        )
    )
    result = run(plan, "codes", order_event("O7"))
    assert result.status == "dead_lettered"
    assert result.error is not None
    assert (result.error["step"], result.error["code"]) == ("map", "expression.failed")
    message = result.error["message"]
    assert "lookup table 'northwind_uk.strict' has no key 'O7'" in message
    assert "`null`" in message  # how to give a default


def test_the_hint_of_a_missing_key_names_the_tables_file(workspace: WriteWorkspace) -> None:
    plan = compile_workspace(
        workspace(
            {
                **TABLES,
                **flow("      code: \"${ lookup('northwind_uk.strict', data.order_id) }\"\n"),
            }
        )
    )
    result = run(plan, "codes", order_event("O7"))
    assert result.error is not None
    assert "flows/lookups/northwind_uk.strict.yaml" not in result.error["message"]


def test_a_run_through_entity_tables_with_defaults(workspace: WriteWorkspace) -> None:
    values = (
        "      code: \"${ lookup('northwind_uk.codes', data.order_id) }\"\n"
        "      account: \"${ lookup('northwind_uk.accounts', data.currency).account }\"\n"
        "      vat: \"${ lookup('northwind_uk.tax', data.currency).vat }\"\n"
        "      fallback: \"${ lookup('northwind_uk.codes', 'nope', 'NW-000') }\"\n"
    )
    plan = compile_workspace(workspace({**TABLES, **flow(values)}))
    result = run(plan, "codes", order_event("O2", currency="USD"))
    assert result.status == "succeeded", result.error
    assert result.output == {
        "code": "NW-002",
        "account": "4999",
        "vat": "standard",
        "fallback": "NW-000",
    }


def hash_of(root: Path, name: str = "codes") -> str:
    report = check_workspace(root)
    assert report.plan is not None, "\n".join(map(str, report.diagnostics))
    return report.plan.flows[name].content_hash


def test_the_flow_version_covers_the_entity_table_it_uses(workspace: WriteWorkspace) -> None:
    values = "      code: \"${ lookup('northwind_uk.codes', data.order_id) }\"\n"
    root = workspace({**TABLES, **flow(values)})
    plan = compile_workspace(root)
    files = plan.flows["codes"].files
    assert "flows/lookups/northwind_uk/codes.yaml" in files
    assert not {"flows/lookups/codes.yaml", "flows/lookups/acme/codes.yaml"} & set(files)
    before = hash_of(root)

    write_files(root, {"flows/lookups/acme/codes.yaml": "O1: AC-999\n"})
    write_files(root, {"flows/lookups/codes.yaml": "O1: ROOT-999\n"})
    assert hash_of(root) == before  # tables of the same name elsewhere are not this flow's

    write_files(root, {"flows/lookups/northwind_uk/codes.yaml": "O1: NW-001\nO2: NW-222\n"})
    changed = hash_of(root)
    assert changed != before
    result = run(compile_workspace(root), "codes", order_event("O2"))
    assert result.output == {"code": "NW-222"}


def test_the_flow_version_covers_an_entity_csv_table_used_in_a_template(
    workspace: WriteWorkspace,
) -> None:
    root = workspace(
        {
            **TABLES,
            **flow("      account: { template: templates/account.json.j2 }\n"),
            "flows/templates/account.json.j2": (
                "{{ lookup('northwind_uk.accounts', data.currency).account | tojson }}\n"
            ),
        }
    )
    plan = compile_workspace(root)
    assert "flows/lookups/northwind_uk/accounts.csv" in plan.flows["codes"].files
    before = hash_of(root)
    write_files(root, {"flows/lookups/northwind_uk/accounts.csv": "currency,account\nGBP,4001\n"})
    assert hash_of(root) != before
