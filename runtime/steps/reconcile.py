"""`reconcile:` — compare record sets of two or three systems by key and classify differences.

The first source is the reference (the system of record). Each other source is compared with
it: `missing` (in the reference, not in the source), `extra` (in the source only), `mismatched`
(in both, with the fields that differ). The output is the report; with `emit`, one event per
discrepancy; with `report`, the report is also handed to a connector operation (a file, a ticket).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field

from runtime.connectors.base import Operation
from runtime.contracts.registry import ContractVersion
from runtime.errors import ExpressionError
from runtime.expressions.compiled import CompiledValue
from runtime.spec.common import EventType, Identifier, SpecModel, Value
from runtime.spec.retry import RetryPolicy, RetrySetting
from runtime.steps._context import CompileContext, RunContext, StepNodeBase
from runtime.steps._registry import StepConfig, step_kind
from runtime.steps.call import OperationRef


class ReconcileSource(SpecModel):
    """Where one system's records come from, and which field of a record is its matching key."""

    call: str = OperationRef
    with_: Value = Field(default=None, alias="with", description="The operation's input.")
    key: str = Field(description="The field holding the matching key (dots for nested fields).")
    retry: RetrySetting | None = Field(default=None, description="Retry policy of the read.")


class ReportTarget(SpecModel):
    """A connector operation that receives the whole report (e.g. a file connector's write)."""

    call: str = OperationRef
    retry: RetrySetting | None = Field(default=None, description="Retry policy of the write.")


class ReconcileSpec(SpecModel):
    """What to compare."""

    sources: dict[Identifier, ReconcileSource] = Field(
        min_length=2,
        max_length=3,
        description="2 or 3 systems by name; the first one is the reference.",
    )
    compare: dict[str, dict[Identifier, str]] = Field(
        default_factory=dict,
        description="Reference field -> {source: its field in that source}. Only these fields are compared.",
    )
    emit: EventType | None = Field(
        default=None,
        description="Publish one event of this type per discrepancy (e.g. ops.reconciliation.discrepancy).",
    )
    report: ReportTarget | None = Field(
        default=None, description="Send the report to this operation."
    )
    max_events: int = Field(
        default=1000, ge=0, description="Emit at most this many discrepancy events per run."
    )


class ReconcileConfig(StepConfig):
    kind_key = "reconcile"
    reconcile: ReconcileSpec = Field(
        description="The systems to compare, their keys and the fields to compare."
    )


@dataclass(frozen=True)
class _Source:
    name: str
    operation: Operation
    payload: CompiledValue
    key: tuple[str, ...]
    retry: RetryPolicy


@dataclass(frozen=True)
class _CallAs:
    """A sub-call of the step: mocks can answer it as `<step>.<source>`."""

    id: str
    timeout: float | None
    kind: str = "reconcile"


def _get(record: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.strip() == b.strip()
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    return bool(a == b)


@dataclass(frozen=True, kw_only=True)
class ReconcileStep(StepNodeBase):
    sources: tuple[_Source, ...]
    compare: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]
    contract: ContractVersion | None
    report: tuple[Operation, RetryPolicy] | None
    max_events: int

    async def execute(self, rc: RunContext) -> Any:
        records: dict[str, dict[Any, Any]] = {}
        counts: dict[str, int] = {}
        for source in self.sources:
            payload = source.payload.evaluate(rc.document)
            rows = await rc.call(
                _CallAs(f"{self.id}.{source.name}", self.timeout),
                source.operation,
                payload,
                source.retry,
            )
            if isinstance(rows, dict) and isinstance(rows.get("items"), list):
                rows = rows["items"]
            if not isinstance(rows, list):
                raise ExpressionError(
                    f"{source.operation.ref} returned {type(rows).__name__}, expected a list of records"
                )
            counts[source.name] = len(rows)
            records[source.name] = {
                _get(row, source.key): row for row in rows if _get(row, source.key) is not None
            }
        reference = self.sources[0].name
        discrepancies: list[dict[str, Any]] = []
        for other in self.sources[1:]:
            theirs, ours = records[other.name], records[reference]
            for key in ours.keys() - theirs.keys():
                discrepancies.append(
                    {"kind": "missing", "source": other.name, "key": key, "fields": {}}
                )
            for key in theirs.keys() - ours.keys():
                discrepancies.append(
                    {"kind": "extra", "source": other.name, "key": key, "fields": {}}
                )
            for key in ours.keys() & theirs.keys():
                fields = {}
                for reference_field, mapping in self.compare:
                    target = dict(mapping).get(other.name)
                    if target is None:
                        continue
                    expected = _get(ours[key], tuple(reference_field.split(".")))
                    actual = _get(theirs[key], target)
                    if not _same(expected, actual):
                        fields[reference_field] = {"expected": expected, "actual": actual}
                if fields:
                    discrepancies.append(
                        {"kind": "mismatched", "source": other.name, "key": key, "fields": fields}
                    )
        discrepancies.sort(key=lambda d: (d["source"], d["kind"], str(d["key"])))
        summary = {
            "records": counts,
            **{
                k: sum(1 for d in discrepancies if d["kind"] == k)
                for k in ("missing", "extra", "mismatched")
            },
        }
        report = {"reference": reference, "summary": summary, "discrepancies": discrepancies}
        if self.contract is not None:
            name = f"{rc.flow}.{self.id}"
            for index, item in enumerate(discrepancies[: self.max_events]):
                data = {"reconciliation": name, "run_id": rc.run_id, "reference": reference, **item}
                await rc.emit(
                    _CallAs(f"{self.id}[{index}]", None, "emit"),
                    self.contract,
                    data,
                    str(item["key"]),
                )
        if self.report is not None:
            operation, retry = self.report
            await rc.call(_CallAs(f"{self.id}.report", self.timeout), operation, report, retry)
        return report


EXAMPLE = """\
- id: accounts
  reconcile:
    sources:
      crm: { call: crm.list_accounts, key: account_id }
      erp: { call: erp.list_customers, key: crm_account_id }
      psa: { call: psa.list_clients, key: crm_account_id }
    compare:
      name: { erp: name, psa: client_name }
      tax_id: { erp: tax_id }
    emit: ops.reconciliation.discrepancy
"""


@step_kind(
    ReconcileConfig,
    summary="Compare records of 2–3 systems by key; report missing, extra and mismatched ones.",
    examples=(EXAMPLE,),
)
def compile_reconcile(
    config: ReconcileConfig, cc: CompileContext, path: tuple[str | int, ...]
) -> ReconcileStep | None:
    spec = config.reconcile
    here = (*path, "reconcile")
    sources = []
    for name, source in spec.sources.items():
        where = (*here, "sources", name)
        operation = cc.operation(source.call, (*where, "call"))
        payload = cc.value(source.with_, (*where, "with"))
        retry = cc.retry(source.retry, (*where, "retry"))
        if operation is not None:
            sources.append(_Source(name, operation, payload, tuple(source.key.split(".")), retry))
    for field_name, mapping in spec.compare.items():
        for source_name in mapping:
            if source_name not in spec.sources:
                known = ", ".join(spec.sources)
                cc.error(
                    (*here, "compare", field_name, source_name),
                    "reconcile.unknown_source",
                    f"`{source_name}` is not one of the sources ({known})",
                    "name a source listed under `sources`",
                    at_key=True,
                )
    compare = tuple(
        (field_name, tuple((src, tuple(target.split("."))) for src, target in mapping.items()))
        for field_name, mapping in spec.compare.items()
    )
    contract = cc.contract_version(spec.emit, None, (*here, "emit")) if spec.emit else None
    report = None
    if spec.report is not None:
        operation = cc.operation(spec.report.call, (*here, "report", "call"))
        if operation is not None:
            report = (operation, cc.retry(spec.report.retry, (*here, "report", "retry")))
    if len(sources) != len(spec.sources):
        return None
    return ReconcileStep(
        id=config.id,
        kind="reconcile",
        path=path,
        sources=tuple(sources),
        compare=compare,
        contract=contract,
        report=report,
        max_events=spec.max_events,
    )
