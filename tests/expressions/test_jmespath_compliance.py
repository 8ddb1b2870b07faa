"""The JMESPath compliance suite (jmespath/jmespath.test), run through seamline's expression layer.

Every case goes through `compile_expression(expr, jmespath_options(IntegrationFunctions()))`
and `.evaluate(given)`, exactly as a flow does, so the custom integration functions can never
shadow or change a built-in without this suite noticing.

Where errors surface (checked against jmespath 1.x, asserted per error type):

| suite error        | seamline                                                       |
| ------------------ | -------------------------------------------------------------- |
| `syntax`           | `compile_expression` returns ExpressionProblem `expr.syntax`   |
| `invalid-type`     | `evaluate` raises ExpressionError from JMESPathTypeError       |
| `invalid-arity`    | `evaluate` raises ExpressionError from ArityError (incl. the   |
|                    | variadic subclass) - jmespath checks arity at run time only    |
| `unknown-function` | `evaluate` raises ExpressionError from UnknownFunctionError    |
|                    | (also a run-time check in jmespath; the flow compiler reports   |
|                    | unknown names at load time with its own function table)        |
| `invalid-value`    | `evaluate` raises ExpressionError from ValueError (a slice     |
|                    | step of 0; jmespath has no exception class of its own for it)  |
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jmespath import exceptions as jp
from jmespath.functions import Functions

from runtime.errors import ExpressionError
from runtime.expressions.functions import IntegrationFunctions, jmespath_options
from runtime.expressions.jmes import CompiledExpression, ExpressionProblem, compile_expression
from tests.conftest import TESTSUITES, shared_suite

pytestmark = pytest.mark.conformance

SUITE = TESTSUITES / "jmespath-compliance" / "tests"
EXPECTED_CASES = 892  # cases with `result` or `error` at jmespath.test @ 53abcc3

OPTIONS = jmespath_options(IntegrationFunctions())

# suite error name -> the exception class that must be the ExpressionError's __cause__
RUNTIME_ERRORS: dict[str, type[BaseException]] = {
    "invalid-type": jp.JMESPathTypeError,
    "invalid-arity": jp.ArityError,  # VariadictArityError is a subclass
    "unknown-function": jp.UnknownFunctionError,
    "invalid-value": ValueError,
}


def _load_cases() -> list[tuple[str, Any, dict[str, Any]]]:
    cases: list[tuple[str, Any, dict[str, Any]]] = []
    for file in sorted(SUITE.glob("*.json")):
        for g, group in enumerate(json.loads(file.read_text(encoding="utf-8"))):
            for c, case in enumerate(group["cases"]):
                if "result" in case or "error" in case:  # `bench` cases are benchmarks only
                    cases.append((f"{file.stem}[{g}][{c}]", group["given"], case))
    return cases


CASES = _load_cases() if SUITE.is_dir() else []


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def test_the_suite_holds_every_case() -> None:
    """Nothing silently disappears: the count is pinned to the suite's revision."""
    shared_suite("jmespath-compliance", "tests")
    assert len(CASES) == EXPECTED_CASES
    kinds = {case.get("error", "result") for _, _, case in CASES}
    assert kinds == {"result", "syntax", *RUNTIME_ERRORS}


@pytest.mark.filterwarnings("ignore:deprecated string literal syntax:PendingDeprecationWarning")
@pytest.mark.parametrize(
    ("given", "case"),
    [pytest.param(given, case, id=name) for name, given, case in CASES]
    or [pytest.param(None, None, id="suite-missing")],
)
def test_compliance_case(given: Any, case: dict[str, Any] | None) -> None:
    shared_suite("jmespath-compliance", "tests")
    assert case is not None
    expression = case["expression"]
    compiled = compile_expression(expression, OPTIONS)

    if "result" in case:
        assert isinstance(compiled, CompiledExpression), compiled
        assert _canonical(compiled.evaluate(given)) == _canonical(case["result"])
        return

    error = case["error"]
    if error == "syntax":
        assert isinstance(compiled, ExpressionProblem), f"{expression!r} compiled"
        assert compiled.code in ("expr.syntax", "expr.empty")
        assert 0 <= compiled.offset <= len(expression)
        return

    # every other error kind is found at run time, not when parsing
    assert isinstance(compiled, CompiledExpression), compiled
    with pytest.raises(ExpressionError) as raised:
        compiled.evaluate(given)
    cause = raised.value.__cause__
    assert isinstance(cause, RUNTIME_ERRORS[error]), repr(cause)
    assert raised.value.source == expression
    assert expression in str(raised.value)


@pytest.mark.filterwarnings("ignore:deprecated string literal syntax:PendingDeprecationWarning")
def test_runtime_error_classes_are_the_specific_ones() -> None:
    """The mapping above is not looser than reality (e.g. a variadic arity error stays arity)."""
    shared_suite("jmespath-compliance", "tests")
    seen: dict[str, set[str]] = {}
    for _, given, case in CASES:
        error = case.get("error")
        if error not in RUNTIME_ERRORS:
            continue
        compiled = compile_expression(case["expression"], OPTIONS)
        assert isinstance(compiled, CompiledExpression)
        with pytest.raises(ExpressionError) as raised:
            compiled.evaluate(given)
        seen.setdefault(error, set()).add(type(raised.value.__cause__).__name__)
    assert seen == {
        "invalid-type": {"JMESPathTypeError"},
        "invalid-arity": {"ArityError", "VariadictArityError"},
        "unknown-function": {"UnknownFunctionError"},
        "invalid-value": {"ValueError"},
    }


def test_no_integration_function_shadows_a_builtin() -> None:
    """Every JMESPath built-in resolves to jmespath's own implementation and signature."""
    builtins = Functions().FUNCTION_TABLE
    ours = IntegrationFunctions().FUNCTION_TABLE
    assert builtins, "jmespath exposes no function table"
    for name, entry in builtins.items():
        assert name in ours, f"built-in {name}() is missing"
        assert ours[name]["function"] is entry["function"], f"{name}() is shadowed"
        assert ours[name]["signature"] == entry["signature"], f"{name}() has another signature"


def test_suite_folder_is_the_shared_one() -> None:
    path = shared_suite("jmespath-compliance", "tests")
    assert path == Path(SUITE)
    assert (path / "benchmarks.json").is_file()
