"""The ERP's business rules, idempotency keys, auth, rate limiting and fault injection — over
real HTTP, and through seamline's http connector where a flow would meet them."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from runtime.sandbox import FaultConfig, RateLimit, Sandbox
from runtime.sandbox.faults import FaultInjector
from runtime.sandbox.ratelimit import TokenBucket
from tests.sandbox._support import CallFailed, Runner, client, example

CUSTOMER = {
    "name": "Caldera Systems Ltd",
    "tax_id": "GB700100200",
    "country": "GB",
    "legal_entity": "UK01",
    "currency": "GBP",
}


def customers(sandbox: Sandbox) -> int:
    return sandbox.erp.counts()["customers"]


def failure(
    flows: Runner, operation: str, payload: dict[str, Any], run_id: str | None = None
) -> dict[str, Any]:
    with pytest.raises(CallFailed) as failed:
        flows.call(operation, payload, run_id)
    return failed.value.error


# ── ERP rules ───────────────────────────────────────────────────────────────────────────
def test_duplicate_tax_id_is_a_conflict_naming_the_customer(
    flows: Runner, sandbox: Sandbox
) -> None:
    first = flows.call("erp.create_customer", {**CUSTOMER, "tax_id": "GB700100201"})
    error = failure(flows, "erp.create_customer", {**CUSTOMER, "tax_id": "gb 700 1002 01"})
    assert error["code"] == "connector.http_409" and not error["transient"]
    raw = client(sandbox, "erp").post("/customers", json={**CUSTOMER, "tax_id": "GB700100201"})
    assert raw.status_code == 409
    assert raw.headers["content-type"] == "application/problem+json"
    assert raw.json()["code"] == "duplicate_tax_id"
    assert raw.json()["existing_id"] == first["id"]


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"legal_entity": "NL01"}, "unknown_legal_entity"),
        ({"legal_entity": None, "subsidiary_id": 9}, "unknown_legal_entity"),
        ({"subsidiary_id": 1}, "subsidiary_mismatch"),
        ({"currency": "XYZ"}, "unknown_currency"),
        ({"currency": "USD"}, "currency_not_allowed"),  # UK01 invoices in GBP and EUR only
        ({"payment_terms": "NET90"}, "unknown_payment_terms"),
        ({"tax_id": None}, "validation"),
    ],
)
def test_unknown_entity_or_currency_is_unprocessable(
    sandbox: Sandbox, change: dict[str, Any], code: str
) -> None:
    body = {
        k: v for k, v in {**CUSTOMER, "tax_id": "GB700100299", **change}.items() if v is not None
    }
    answer = client(sandbox, "erp").post("/customers", json=body)
    assert (answer.status_code, answer.json()["code"]) == (422, code), answer.json()


def test_unknown_currency_through_the_connector_is_permanent(flows: Runner) -> None:
    error = failure(
        flows, "erp.create_customer", {**CUSTOMER, "tax_id": "GB700100298", "currency": "JPY"}
    )
    assert error["code"] == "connector.http_422" and not error["transient"]
    assert "currency JPY is not set up" in error["message"]


# ── idempotency keys ────────────────────────────────────────────────────────────────────
def test_same_key_same_answer_nothing_new(sandbox: Sandbox) -> None:
    erp = client(sandbox, "erp")
    body = {**CUSTOMER, "tax_id": "GB700100202"}
    before, replays = customers(sandbox), sandbox.replays()
    first = erp.post("/customers", json=body, headers={"Idempotency-Key": "k-202"})
    again = erp.post("/customers", json=body, headers={"Idempotency-Key": "k-202"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert sandbox.replays() == {**replays, "erp": replays["erp"] + 1}  # counted, in the database
    assert customers(sandbox) == before + 1
    other = erp.post(
        "/customers", json={**body, "name": "Caldera Group"}, headers={"Idempotency-Key": "k-202"}
    )
    assert (other.status_code, other.json()["code"]) == (422, "idempotency_key_reused")
    assert customers(sandbox) == before + 1


def test_a_post_whose_answer_was_lost_is_not_repeated(flows: Runner, sandbox: Sandbox) -> None:
    """The ERP creates the customer but the answer never arrives (the client times out); the
    retry carries the same idempotency key and gets the first answer — no second customer."""
    body = {**CUSTOMER, "tax_id": "GB700100203"}
    before = customers(sandbox)
    sandbox.set_faults(FaultConfig(timeout_rate=1.0, hang=1.5), "erp")
    error = failure(flows, "erp.create_customer", body, run_id="run-lost-answer")
    assert error["code"] == "connector.timeout" and error["transient"]
    assert customers(sandbox) == before + 1  # it was created all the same
    sandbox.set_faults(FaultConfig(), "erp")
    replay = flows.call("erp.create_customer", body, run_id="run-lost-answer")  # same key
    assert replay["tax_id"] == "GB700100203"
    assert customers(sandbox) == before + 1
    assert failure(flows, "erp.create_customer", body)["code"] == "connector.http_409"  # new key


def test_a_replayed_run_creates_nothing_twice(flows: Runner, sandbox: Sandbox) -> None:
    """opportunity_to_project run again under the same run id (a resume after a crash): every
    POST carries the same `<run>:<step>` key, so the systems answer what they answered before."""
    event = example("crm.opportunity.closed_won/examples/valid/milestone_uk.json")
    data = event["data"]  # Pennine Water's deal, as another (new) customer
    data["opportunity_id"], data["account"]["account_id"] = "OPP-904251", "ACC-29117"
    data["account"]["tax_id"] = "GB999888777"
    crm = client(sandbox, "crm")
    crm.post(
        "/accounts", json={"id": data["account"]["account_id"], "name": data["account"]["name"]}
    )
    crm.post(
        "/opportunities",
        json={
            "id": data["opportunity_id"],
            "name": data["name"],
            "account_id": data["account"]["account_id"],
        },
    )
    first = flows.run("opportunity_to_project", event, run_id="run-resumed")
    assert first.succeeded, first.error
    counts = sandbox.counts()
    again = flows.run("opportunity_to_project", event, run_id="run-resumed")
    assert again.succeeded, again.error
    assert again.output == first.output
    assert sandbox.counts() == counts


# ── auth ────────────────────────────────────────────────────────────────────────────────
def test_requests_without_the_token_are_refused(
    sandbox: Sandbox, flows: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = sandbox.urls["psa"]
    assert httpx.get(f"{url}/healthz").json()["status"] == "ok"  # probes need no token
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eDp5"}):
        answer = httpx.get(f"{url}/projects", headers=headers)
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="psa"'
        assert answer.json()["code"] == "unauthorized"
    assert httpx.get(f"{url}/_admin/counts").status_code == 401
    monkeypatch.setenv("SEAMLINE_PSA_TOKEN", "stale-token")
    error = failure(flows, "psa.get_project", {"id": "PRJ-000001"})
    assert error["code"] == "connector.http_401" and not error["transient"]


# ── rate limit ──────────────────────────────────────────────────────────────────────────
def test_rate_limit_answers_429_with_retry_after(sandbox: Sandbox, flows: Runner) -> None:
    sandbox.crm.bucket = TokenBucket(RateLimit(rate=0.5, burst=2))
    crm = client(sandbox, "crm")
    statuses = [crm.get("/accounts").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    limited = crm.get("/accounts")
    assert limited.headers["Retry-After"] == "2"  # a token every 2 s
    assert limited.json()["code"] == "rate_limited"
    assert crm.get("/_admin/counts").status_code == 200  # operations are never limited
    error = failure(flows, "crm.get_account", {"id": "ACC-10001"})
    assert error["code"] == "connector.http_429" and error["transient"]


def test_token_bucket_refills_at_its_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    bucket = TokenBucket(RateLimit(rate=4, burst=2))
    assert [bucket.take()[0] for _ in range(3)] == [True, True, False]
    assert bucket.take() == (False, 0, 1)
    clock[0] += 0.25  # one token
    assert bucket.take()[0] is True
    assert bucket.take()[0] is False
    assert TokenBucket(RateLimit(rate=0)).take()[0] is True  # 0: no limit


# ── fault injection ─────────────────────────────────────────────────────────────────────
def test_error_rate_answers_503_and_the_connector_sees_a_transient_error(
    sandbox: Sandbox, flows: Runner
) -> None:
    sandbox.set_faults(FaultConfig(error_rate=1.0), "erp")
    answer = client(sandbox, "erp").get("/customers")
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "1")
    assert answer.json()["code"] == "unavailable"
    error = failure(flows, "erp.find_customer", {"tax_id": "GB700100200"})
    assert error["code"] == "connector.http_503" and error["transient"]


def test_seeded_faults_are_deterministic(sandbox: Sandbox) -> None:
    erp = client(sandbox, "erp")

    def statuses(seed: int) -> list[int]:
        sandbox.erp.faults = FaultInjector(FaultConfig(error_rate=0.3, seed=seed))
        return [erp.get(f"/customers/CUS-{n:06d}").status_code for n in range(60)]

    first = statuses(42)
    assert statuses(42) == first  # same seed, same requests: same faults
    assert statuses(43) != first
    assert 8 <= first.count(503) <= 30 and set(first) == {404, 503}
    # a retry of the same request is a new draw: it does not fail forever
    injector = FaultInjector(FaultConfig(error_rate=0.5, seed=1))
    draws = [injector.decide("GET", "/x", "", "key-1").error for _ in range(20)]
    assert True in draws and False in draws


def test_latency_and_timeouts(sandbox: Sandbox, flows: Runner) -> None:
    sandbox.set_faults(FaultConfig(latency=0.3), "psa")
    t0 = time.perf_counter()
    client(sandbox, "psa").get("/projects")
    assert time.perf_counter() - t0 >= 0.3
    sandbox.set_faults(FaultConfig(timeout_rate=1.0, hang=1.5), "psa")
    t0 = time.perf_counter()
    error = failure(flows, "psa.get_project", {"id": "PRJ-000001"})
    assert error["code"] == "connector.timeout" and error["transient"]
    assert 0.9 < time.perf_counter() - t0 < 2.5  # the connector's 1 s timeout, not the hang


def test_faults_can_be_changed_while_serving(sandbox: Sandbox) -> None:
    crm = client(sandbox, "crm")
    assert crm.put("/_admin/faults", json={"error_rate": 1, "seed": 5}).json()["error_rate"] == 1
    assert crm.get("/accounts").status_code == 503
    assert crm.get("/_admin/counts").status_code == 200  # operations endpoints are never faulted
    assert crm.put("/_admin/faults", json={"error_rate": 2}).status_code == 422
    crm.put("/_admin/faults", json={"error_rate": 0})
    assert crm.get("/accounts").status_code == 200


def test_fault_config_from_the_environment() -> None:
    env = {
        "SEAMLINE_SANDBOX_ERROR_RATE": "0.2",
        "SEAMLINE_SANDBOX_SEED": "9",
        "SEAMLINE_SANDBOX_ERP_LATENCY": "0.05",
        "SEAMLINE_SANDBOX_ERP_ERROR_RATE": "0.5",
    }
    assert FaultConfig.from_env("erp", env) == FaultConfig(error_rate=0.5, latency=0.05, seed=9)
    assert FaultConfig.from_env("crm", env) == FaultConfig(error_rate=0.2, seed=9)
    with pytest.raises(ValueError, match="error_rate"):
        FaultConfig(error_rate=1.5)


def test_errors_are_problem_documents(sandbox: Sandbox) -> None:
    erp = client(sandbox, "erp")
    broken = erp.post(
        "/customers", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert (broken.status_code, broken.json()["code"]) == (400, "malformed_json")
    assert erp.post("/customers", json=[1, 2]).json()["code"] == "validation"
    missing = erp.get("/no-such-thing")
    assert (missing.status_code, missing.headers["content-type"]) == (
        404,
        "application/problem+json",
    )
    assert erp.delete("/customers").status_code == 405
    unknown = erp.get("/customers/CUS-000001")
    assert unknown.json() == {
        "type": "https://seamline.dev/sandbox/problems/not_found",
        "title": "Not Found",
        "status": 404,
        "code": "not_found",
        "detail": "customer CUS-000001 does not exist",
        "id": "CUS-000001",
    }
