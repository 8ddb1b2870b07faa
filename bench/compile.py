"""Compile time of a generated 500-flow workspace.

The workspace is written to a temporary folder: the reference contracts, connectors, lookups
and templates, plus 500 generated flows. Each generated flow is mid-sized (about 80 lines,
9 to 10 steps, 35 expressions and 3 Jinja strings): a filter and key, vars with a lookup, a fail step
guarding the entity, find-or-create of the ERP customer with a retry and an undo, a set step
with money and date functions, a switch whose arms hold a for_each over the lines (or the
milestones) and a call, a CRM update and an output. Flows differ in names, literals, step
order of the switch arms and which arm holds the loop, so no two files are equal.

Each run is a fresh Python process (cold caches, as `seamline check` and a server start see
it) that measures the CPU time of `check_workspace()` — load, validate and compile everything into a Plan, which
must come back clean. The baseline is the floor any YAML-configured system pays: the same
flow files read and parsed with PyYAML's C loader (`yaml.CSafeLoader`), no positions kept.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from bench._timing import Row, Sample, Section
from bench._workspace import REPO

FLOWS = 500
TARGET_SECONDS = 2.0

_FLOW = """\
flow: {name}
version: 1.{minor}.0
description: Generated flow {n} for the compile benchmark ({model} projects of {entity}).
on:
  event: crm.opportunity.closed_won
  filter: data.stage == 'Closed Won' && data.billing_model == '{model}' && data.amount >= `{floor}`
key: data.opportunity_id
sla: {sla}m
vars:
  entity: "${{ lookup('legal_entities', data.legal_entity, `null`) }}"
  floor: {floor}
  region: {region}
steps:
  - id: check_entity_{n}
    if: vars.entity == `null`
    fail: "{{{{ data.opportunity_id }}}}: legal entity {{{{ data.legal_entity }}}} is not set up"
    code: validation.entity
  - id: find_customer
    call: erp.find_customer
    with: {{ tax_id: "${{ data.account.tax_id }}" }}
  - id: create_customer
    if: steps.find_customer.output == `null`
    call: erp.create_customer
    with:
      name: "${{ data.account.name }}"
      tax_id: "${{ data.account.tax_id }}"
      country: "${{ data.account.country }}"
      subsidiary_id: "${{ vars.entity.erp_subsidiary }}"
      currency: "${{ data.currency }}"
      external_id: "${{ uuid5('gen.{n}', data.account.account_id) }}"
    retry: {{ attempts: {attempts}, backoff: exponential, delay: 1s, max_delay: 1m }}
    undo:
      call: erp.archive_customer
      with: {{ id: "${{ steps.create_customer.output.id }}" }}
  - id: totals
    set:
      customer_id: "${{ steps.find_customer.output.id || steps.create_customer.output.id }}"
      hours: "${{ sum(data.lines[].hours) }}"
      value: "${{ sum_money(data.lines[].amount, data.currency) }}"
      first_month: "${{ start_of(data.start_date, 'month') }}"
      label: "GEN-{n}-${{ data.opportunity_id }}"
  - id: plan_{n}
    switch:
{arms}
  - id: update_opportunity
    call: crm.update_opportunity
    with:
      id: "${{ data.opportunity_id }}"
      erp_customer_id: "${{ vars.customer_id }}"
      delivery_status: "{{{{ data.stage }}}} / generated {n}"
      hours: "${{ vars.hours }}"
output:
  customer_id: "${{ vars.customer_id }}"
  value: "${{ vars.value }}"
  items: "${{ steps.plan_{n}.output }}"
"""

_LOOP_ARM = """\
      - if: {condition}
        steps:
          - id: per_line_{n}
            for_each: data.lines
            as: line
            concurrency: {concurrency}
            steps:
              - id: note_line_{n}
                call: crm.add_note
                with:
                  parent_type: opportunity
                  parent_id: "${{ data.opportunity_id }}"
                  title: "Line {{{{ line.line_id }}}} ({{{{ line.role }}}})"
                  body: "${{ join(' ', [line.description, to_string(line.hours)]) }}"
                  amount: "${{ round_money(line.amount, data.currency) }}"
            output: "${{ steps.note_line_{n}.output.id }}"
"""

_CALL_ARM = """\
      - {head}
          - id: note_{n}
            call: crm.add_note
            with:
              parent_type: opportunity
              parent_id: "${{ data.opportunity_id }}"
              title: "{title} ${{ vars.label }}"
              body: "${{ to_string(length(data.milestones || `[]`)) }} milestones"
"""


def _arms(n: int) -> str:
    loop_first = n % 2 == 0
    loop = _LOOP_ARM.format(n=n, condition=f"data.amount > `{1000 + n}`", concurrency=1 + n % 4)
    call = _CALL_ARM.format(n=n, head="else:", title=f"Plan {n}")
    if loop_first:
        return (loop + call).rstrip("\n")
    other = _CALL_ARM.format(
        n=n,
        head=f"if: data.currency == '{('EUR', 'USD')[n % 2]}'\n        steps:",
        title=f"Currency {n}",
    )
    loop_else = _LOOP_ARM.format(n=n, condition="data.amount > `0`", concurrency=2)
    return (other + loop_else + _CALL_ARM.format(n=n + 100000, head="else:", title="Other")).rstrip(
        "\n"
    )


def flow_text(n: int) -> str:
    return _FLOW.format(
        name=f"generated_{n:04d}",
        n=n,
        minor=n % 7,
        model=("fixed_fee", "milestone", "time_and_materials")[n % 3],
        entity=("US01", "UK01", "DE01", "FR01")[n % 4],
        floor=1000 * (n % 13),
        sla=15 + n % 45,
        region=json.dumps(("emea", "amer", "apac")[n % 3]),
        attempts=2 + n % 4,
        arms=_arms(n),
    )


def write_workspace(root: Path, flows: int = FLOWS) -> Path:
    for folder in ("contracts", "connectors", "flows/lookups", "flows/templates"):
        shutil.copytree(REPO / folder, root / folder)
    for n in range(flows):
        (root / "flows" / f"generated_{n:04d}.yaml").write_text(flow_text(n), encoding="utf-8")
    return root


_PROBE = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    root = Path(sys.argv[1])
    if sys.argv[2] == "seamline":
        from runtime.compiler.workspace import check_workspace
        start, cpu = time.perf_counter(), time.process_time()
        report = check_workspace(root)
        took, cpu = time.perf_counter() - start, time.process_time() - cpu
        bad = [str(d) for d in report.diagnostics if d.severity == "error"][:3]
        print(json.dumps({"seconds": cpu, "wall": took, "problems": bad,
                          "flows": len(report.plan.flows) if report.plan else 0}))
    else:
        import yaml
        files = sorted((root / "flows").glob("*.yaml"))
        start, cpu = time.perf_counter(), time.process_time()
        for f in files:
            yaml.load(f.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)
        print(json.dumps({"seconds": time.process_time() - cpu, "wall": time.perf_counter() - start,
                          "flows": len(files)}))
    """
)


def _probe(root: Path, what: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(root), what],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> Section:
    runs = 2 if quick else 3
    section = Section(
        f"Compile time of a generated {FLOWS}-flow workspace", __doc__.split("\n\n", 1)[1].strip()
    )
    with tempfile.TemporaryDirectory(prefix="seamline-bench-") as folder:
        root = write_workspace(Path(folder))
        lines = sum(len(flow_text(n).splitlines()) for n in range(FLOWS))
        ours, floor, wall = [], [], []
        for _ in range(runs):
            result = _probe(root, "seamline")
            if result["problems"] or result["flows"] != FLOWS:
                raise RuntimeError(f"the generated workspace does not compile: {result}")
            ours.append(float(result["seconds"]))  # type: ignore[arg-type]
            wall.append(float(result["wall"]))  # type: ignore[arg-type]
            floor.append(float(_probe(root, "yaml")["seconds"]))  # type: ignore[arg-type]
    ours_s, floor_s = Sample(tuple(ours)), Sample(tuple(floor))
    section.rows.append(
        Row(
            f"check_workspace(): {FLOWS} flows ({lines} lines of YAML) plus the reference contracts",
            ours_s,
            "s",
            floor_s,
            "yaml.CSafeLoader over the same flow files",
            ours_s.median / floor_s.median,
            "x the YAML parse floor",
            f"< {TARGET_SECONDS:g} s",
            ours_s.median < TARGET_SECONDS,
            f"{ours_s.median / FLOWS * 1000:.1f} ms of CPU per flow; wall-clock median "
            f"{Sample(tuple(wall)).median:.2f} s",
        )
    )
    return section
