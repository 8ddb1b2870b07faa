"""The RunContext the step kinds execute against: one per run, forked per loop iteration."""

from __future__ import annotations

import dataclasses
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from runtime.compiler.plan import FlowPlan, Plan
from runtime.connectors.base import CallRequest, Operation
from runtime.connectors.secrets import redact
from runtime.contracts.registry import ContractVersion
from runtime.engine.clock import Clock, VirtualClock, iso
from runtime.engine.journal import DONE, LEAF_KINDS, Journal, MemoryJournal, Suspend
from runtime.engine.mocks import RunMocks
from runtime.engine.result import CallRecord, RunResult, StepRecord
from runtime.errors import (
    ConnectorError,
    ContractViolation,
    ExpressionError,
    SeamlineError,
    StepError,
)
from runtime.expressions.functions import uuid5_text
from runtime.expressions.jmes import is_truthy
from runtime.spec.retry import RetryPolicy
from runtime.steps.fail import FlowFailure
from runtime.steps.wait_for import WaitTimeout
from runtime.store.base import JournalEntry, OpenWait

_JITTER = random.Random()

__all__ = ["Clock", "RunState", "StepRunner", "VirtualClock", "error_code", "iso"]


@dataclass
class RunState:
    """What every fork of one run shares."""

    plan: Plan
    flow: FlowPlan
    result: RunResult
    clock: Clock
    mocks: RunMocks | None
    undos: list[tuple[Any, dict[str, Any], str]] = field(default_factory=list)
    rng: random.Random | None = None  # None: the process's generator (seeding one per run costs)
    subflow_depth: int = 0
    journal: Journal = field(default_factory=MemoryJournal)

    def now(self) -> float:
        return self.clock.now().timestamp()

    def spread(self) -> float:
        """A uniform draw in [-1, 1] that scales a retry's jitter."""
        return (self.rng or _JITTER).uniform(-1, 1)

    def key_prefix(self) -> str:
        """Idempotency keys: `<run>:<step>`; a run replayed from the start gets fresh ones."""
        generation = self.journal.generation
        return self.result.run_id if not generation else f"{self.result.run_id}.{generation}"


def error_code(exc: BaseException) -> tuple[str, bool]:
    """(stable error code, transient?) of anything a step can raise."""
    if isinstance(exc, StepError):
        return exc.code, exc.transient
    if isinstance(exc, ConnectorError):
        return f"connector.{exc.error_class}", exc.transient
    if isinstance(exc, ContractViolation):
        return "contract.violation", False
    if isinstance(exc, ExpressionError):
        return "expression.failed", False
    if isinstance(exc, FlowFailure):
        return exc.code, False
    if isinstance(exc, WaitTimeout):
        return "wait.timeout", False
    if isinstance(exc, TimeoutError):
        return "step.timeout", True
    if isinstance(exc, SeamlineError):
        return "step.failed", False
    return "internal.error", False


_STEP_ERROR_FIELDS = ("flow", "step", "attempt", "code", "message", "transient")


def node_kind(node: Any) -> str:
    return str(getattr(node, "kind", "undo"))


class StepRunner:
    """Implements RunContext for one scope of a run (the run itself, or one loop iteration)."""

    __slots__ = ("state", "document", "prefix", "_current")

    def __init__(
        self,
        state: RunState,
        document: dict[str, Any],
        prefix: str = "",
        current: StepRecord | None = None,
    ) -> None:
        self.state = state
        self.document = document
        self.prefix = prefix
        self._current = current

    @property
    def flow(self) -> str:
        return self.state.flow.name

    @property
    def run_id(self) -> str:
        return self.state.result.run_id

    def label(self, node: Any) -> str:
        return f"{self.prefix}.{node.id}" if self.prefix else node.id

    # -- running steps -------------------------------------------------------------------
    async def run_steps(self, nodes: Sequence[Any]) -> Any:
        last = None
        execute = self.execute
        for node in nodes:
            last = await execute(node)
        return last

    async def execute(self, node: Any) -> Any:
        # the path every step of every run takes: kept to plain attribute reads and one record
        state = self.state
        document = self.document
        node_id = node.id
        prefix = self.prefix
        label = f"{prefix}.{node_id}" if prefix else node_id
        record = StepRecord(
            label,
            node_id,
            node.kind,
            "running",
            None,
            None,
            None,
            0,
            state.clock.stamp(),
            0.0,
            None,
            state.subflow_depth + node.nesting,
        )
        if node.condition is not None and not is_truthy(self._evaluate_condition(node, record)):
            record.status = "skipped"
            state.result.trace.append(record)
            document["steps"][node_id] = {"output": None, "status": "skipped"}
            return None
        state.result.trace.append(record)
        journal = state.journal
        durable = journal.durable and node.kind in LEAF_KINDS  # what the journal keeps
        if durable:
            emitted_before = len(state.result.emitted)
            entry = journal.entry(label)
            if entry is not None and entry.status in DONE:
                return self._restore(node, record, entry)
            if entry is not None and entry.status == "failed" and entry.error:
                record.status, record.error, record.input = "failed", entry.error, entry.input
                record.detail = "from journal"
                raise StepError(
                    **{k: entry.error[k] for k in _STEP_ERROR_FIELDS if k in entry.error}
                )
        runner = StepRunner(state, document, prefix, record)
        started = time.perf_counter()
        try:
            if node.timeout is not None:
                with anyio.fail_after(node.timeout):
                    output = await node.execute(runner)
            else:
                output = await node.execute(runner)
        except Suspend:
            record.status = "waiting"
            record.duration_ms = (time.perf_counter() - started) * 1000
            raise
        except StepError as exc:
            record.status = "failed"
            record.duration_ms = (time.perf_counter() - started) * 1000
            if record.error is None and exc.step == record.label:
                record.error = exc.to_dict()
            if durable:
                await self._journal(node, record)
            raise
        except Exception as exc:
            record.status = "failed"
            record.duration_ms = (time.perf_counter() - started) * 1000
            code, transient = error_code(exc)
            error = StepError(
                flow=self.flow,
                step=record.label,
                attempt=max(record.attempts, 1),
                code=code,
                message=redact(str(exc) or type(exc).__name__),
                transient=transient,
            )
            record.error = error.to_dict()
            if durable:
                await self._journal(node, record)
            raise error from exc
        finally:
            if record.status == "running":  # cancelled, e.g. a sibling parallel branch failed
                record.status = "cancelled"
                record.duration_ms = (time.perf_counter() - started) * 1000
        record.duration_ms = (time.perf_counter() - started) * 1000
        record.status = "succeeded"
        record.output = output
        if node.kind == "switch":
            arm = document.get("_arms", {}).get(node_id)
            record.detail = "no arm matched" if arm is None else f"took arm {arm}"
        document["steps"][node_id] = {"output": output, "status": "succeeded"}
        if durable:
            await self._journal(node, record, emitted=state.result.emitted[emitted_before:])
        return output

    async def _journal(
        self, node: Any, record: StepRecord, emitted: Sequence[dict[str, Any]] = ()
    ) -> None:
        journal = self.state.journal
        if not journal.durable:
            return
        entry = JournalEntry(
            run_id=self.run_id,
            generation=journal.generation,
            label=record.label,
            kind=node.kind,
            status=record.status,
            input=record.input,
            output=record.output,
            error=record.error,
            attempts=record.attempts,
            started_at=record.started_at,
            finished_at=iso(self.state.clock.now()),
            duration_ms=record.duration_ms,
        )
        try:
            await journal.record(entry, emitted)
        except (TypeError, ValueError, OverflowError) as exc:  # e.g. an integer JSON cannot hold
            message = f"the step's result cannot be stored: {exc}"
            record.status, record.output = "failed", None
            record.error = {
                "flow": self.flow,
                "step": record.label,
                "attempt": max(record.attempts, 1),
                "code": "journal.unstorable",
                "message": message,
                "transient": False,
            }
            failed = dataclasses.replace(entry, status="failed", output=None, error=record.error)
            await journal.record(failed)
            raise StepError(
                flow=self.flow,
                step=record.label,
                attempt=max(record.attempts, 1),
                code="journal.unstorable",
                message=message,
            ) from exc

    def _restore(self, node: Any, record: StepRecord, entry: JournalEntry) -> Any:
        """A step that already happened: its journaled result, and the state it left behind."""
        record.status, record.output, record.input = entry.status, entry.output, entry.input
        record.attempts, record.duration_ms, record.detail = (
            entry.attempts,
            entry.duration_ms,
            "from journal",
        )
        self.document["steps"][node.id] = {"output": entry.output, "status": entry.status}
        if node.kind == "set" and isinstance(entry.output, dict):
            self.document["vars"] = {**self.document.get("vars", {}), **entry.output}
        elif node.kind == "call" and getattr(node, "undo", None) is not None:
            self.register_undo(node)
        elif node.kind == "emit" and isinstance(entry.output, dict):
            self.state.result.emitted.append(entry.output)
        return entry.output

    def _evaluate_condition(self, node: Any, record: StepRecord) -> Any:
        try:
            return node.condition.evaluate(self.document)
        except ExpressionError as exc:
            raise StepError(
                flow=self.flow,
                step=record.label,
                attempt=1,
                code="expression.failed",
                message=str(exc),
            ) from exc

    def fork(self, bindings: dict[str, Any], label: str) -> StepRunner:
        document = {**self.document, **bindings, "steps": dict(self.document["steps"])}
        prefix = f"{self.prefix}.{label}" if self.prefix else label
        return StepRunner(self.state, document, prefix)

    # -- effects -------------------------------------------------------------------------
    async def call(
        self,
        node: Any,
        operation: Operation,
        payload: Any,
        retry: RetryPolicy,
        idempotency_key: str | None = None,
    ) -> Any:
        record = self._current
        state = self.state
        # a step's own call uses its label; a step's sub-calls (reconcile's reads) their own
        label = record.label if record and node.id == record.id else self.label(node)
        journal = state.journal
        generation = journal.generation
        if idempotency_key is not None:  # the flow's own key, shared with other runs
            key = idempotency_key if not generation else f"{idempotency_key}.{generation}"
        else:  # as key_prefix() has it
            run_id = state.result.run_id
            key = f"{run_id}:{label}" if not generation else f"{run_id}.{generation}:{label}"
        ref = operation.ref
        call = CallRecord(label, ref, payload, key, 0)
        state.result.calls.append(call)
        if record is not None:
            record.input = payload
        attempt = 0
        mocks = state.mocks
        pending = journal.entry(label) if journal.durable else None
        if pending is not None and pending.status == "retrying":
            attempt = pending.attempts  # attempts made before the run was suspended
            if pending.wake_at is not None and pending.wake_at > self.state.now():
                raise Suspend(pending.wake_at)
        while True:
            attempt += 1
            call.attempts = attempt
            if record is not None:
                record.attempts = attempt
            try:
                mocked = mocks.answer_for(node.id, ref) if mocks else None
                if mocked is not None:
                    call.mocked = True
                    output = mocked.answer(payload)
                else:
                    request = CallRequest(payload, key, node.timeout, self.run_id)
                    output = await operation.invoke(request)
                call.output = output
                return output
            except ConnectorError as exc:
                call.error = str(exc)
                if not exc.transient or attempt >= retry.attempts:
                    raise StepError(
                        flow=self.flow,
                        step=record.label if record else label,  # the step that failed
                        attempt=attempt,
                        code=f"connector.{exc.error_class}",
                        message=str(exc),
                        transient=exc.transient,
                    ) from exc
                delay = retry.wait_before(attempt + 1, self.state.spread())
                if exc.retry_after is not None:  # the server's word beats max_delay
                    delay = max(delay, exc.retry_after)
                if journal.durable:  # a durable timer: the wait survives a restart
                    wake = self.state.now() + delay
                    await journal.record(
                        JournalEntry(
                            run_id=self.run_id,
                            generation=journal.generation,
                            label=label,
                            kind=node_kind(node),
                            status="retrying",
                            input=payload,
                            attempts=attempt,
                            wake_at=wake,
                            error={"code": f"connector.{exc.error_class}", "message": str(exc)},
                            started_at=record.started_at if record else "",
                            finished_at=iso(self.state.clock.now()),
                        )
                    )
                    raise Suspend(wake) from exc
                await self.state.clock.sleep(delay)

    async def emit(
        self, node: Any, version: ContractVersion, data: Any, subject: Any
    ) -> dict[str, Any]:
        version.validator.check(data)
        label = self.label(node)
        event = {
            "specversion": "1.0",
            # deterministic, so a resumed run emits the same id; a run started over emits new ones
            "id": uuid5_text(uuid.NAMESPACE_URL, f"seamline:{self.state.key_prefix()}:{label}"),
            "source": f"/seamline/flows/{self.flow}",
            "type": version.type,
            "subject": None if subject is None else str(subject),
            "time": self.state.clock.stamp(),
            "datacontenttype": "application/json",
            "dataschema": version.uri,
            "data": data,
        }
        if event["subject"] is None:
            del event["subject"]
        self.state.result.emitted.append(event)
        return event

    async def subflow(self, node: Any, flow: str, data: Any) -> Any:
        from runtime.engine.executor import run_scope

        if self.state.subflow_depth >= 16:
            raise SeamlineError("subflows nested more than 16 deep")
        plan = self.state.plan.flows[flow]
        event = {**self.document["event"], "type": f"seamline.subflow.{flow}", "data": data}
        child_state = RunState(
            self.state.plan,
            plan,
            self.state.result,
            self.state.clock,
            self.state.mocks,
            self.state.undos,
            self.state.rng,
            self.state.subflow_depth + 1,
            self.state.journal,
        )
        return await run_scope(
            child_state, event, f"{self.label(node)}>{flow}", self.document["run"]
        )

    async def wait_for(
        self, node: Any, event_type: str, correlation: Any, timeout: float
    ) -> dict[str, Any] | None:
        journal = self.state.journal
        if journal.durable:
            label = self._current.label if self._current else self.label(node)
            entry = journal.entry(label)
            now = self.state.now()
            if entry is not None and entry.status == "waiting":
                if entry.wake_at is not None and now >= entry.wake_at:
                    return None  # timed out
                raise Suspend(entry.wake_at)
            deadline = now + timeout
            wait = OpenWait(
                self.run_id,
                journal.generation,
                label,
                event_type,
                node.match.source,
                correlation,
                deadline,
            )
            await journal.record(
                JournalEntry(
                    run_id=self.run_id,
                    generation=journal.generation,
                    label=label,
                    kind="wait_for",
                    status="waiting",
                    input={"correlation": correlation},
                    wake_at=deadline,
                    detail={
                        "event_type": event_type,
                        "match": node.match.source,
                        "correlation": correlation,
                    },
                    started_at=iso(self.state.clock.now()),
                ),
                wait=wait,
            )
            raise Suspend(deadline, wait)
        mocked = self.state.mocks.answer_for(node.id, None) if self.state.mocks else None
        if mocked is None:
            raise SeamlineError(
                f"wait_for {event_type} needs the durable runtime (`seamline serve`); "
                f"in `seamline run` mock it: `{node.id}: {{ event: {{…}} }}` or `{{ timeout: true }}`"
            )
        if mocked.timeout or mocked.event is None:
            await self.state.clock.sleep(timeout)
            return None
        event = mocked.event
        got = node.match.evaluate(event)
        if got != correlation:
            raise SeamlineError(
                f"mocked {event_type} event does not correlate: match gave {got!r}, expected {correlation!r}"
            )
        return event

    async def sleep(self, node: Any, seconds: float) -> None:
        if self._current is not None:
            self._current.detail = f"waited {seconds:g}s"
        journal = self.state.journal
        if not journal.durable:
            await self.state.clock.sleep(seconds)
            return
        label = self._current.label if self._current else self.label(node)
        entry = journal.entry(label)
        if entry is not None and entry.status == "waiting" and entry.wake_at is not None:
            if entry.wake_at <= self.state.now():
                return
            raise Suspend(entry.wake_at)
        wake = self.state.now() + seconds
        await journal.record(
            JournalEntry(
                run_id=self.run_id,
                generation=journal.generation,
                label=label,
                kind=node.kind,
                status="waiting",
                wake_at=wake,
                started_at=iso(self.state.clock.now()),
            )
        )
        raise Suspend(wake)

    def register_undo(self, node: Any) -> None:
        self.state.undos.append((node, self.document, self.label(node)))
