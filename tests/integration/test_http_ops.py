"""Operations: liveness, readiness, Prometheus metrics, request ids on every response and
log line, problems without traces, body limits, reports by Accept, org and workflows."""

from __future__ import annotations

import io
import json
import logging
import sqlite3

from openpyxl import load_workbook

from gridflow.drivers.http.logs import JsonLines, RequestIdFilter


def test_livez_and_readyz(api) -> None:
    assert api.client.get("/livez").json() == {"status": "ok", "checks": {}}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["definitions"].startswith("ok (3 workflows")


def test_readyz_is_503_on_a_schema_this_code_does_not_write(api) -> None:
    path = api.engine.store.url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute("UPDATE gf_meta SET value = '99' WHERE key = 'schema_version'")
    r = api.client.get("/readyz")
    assert r.status_code == 503 and "expected" in r.json()["checks"]["schema"]


def test_metrics(api, clock) -> None:
    case = api.start("li.clerk", workflow="errand", unit="g1", days="d1")
    api.client.post(
        f"/api/v1/cases/{case['id']}/events",
        headers=api.auth("li.clerk"),
        json={"trigger": "finish"},
    )
    api.client.post(
        f"/api/v1/cases/{case['id']}/events",
        headers=api.auth("chen.grid"),
        json={"trigger": "finish"},
    )
    clock.advance(days=3)
    text = api.client.get("/metrics").text
    assert 'gridflow_events_total{result="ok",trigger="start",workflow="errand"} 1.0' in text
    assert (
        'gridflow_events_total{result="forbidden",trigger="finish",workflow="errand"} 1.0' in text
    )
    assert 'gridflow_events_total{result="ok",trigger="finish",workflow="errand"} 1.0' in text
    assert 'gridflow_fire_seconds_count{workflow="errand"} 2.0' in text
    assert (
        'gridflow_http_requests_total{method="POST",route="/api/v1/cases/{case_id}/events",status="403"} 1.0'
        in text
    )
    assert "gridflow_timer_lag_seconds" in text
    assert "gridflow_outbox_pending" in text


def test_metrics_gauges_from_the_database(api, clock) -> None:
    api.start("li.clerk", workflow="errand", unit="g1", days="d1")  # an SLA timer is set
    clock.advance(days=10)
    text = api.client.get("/metrics").text
    lag = next(line for line in text.splitlines() if line.startswith("gridflow_timer_lag_seconds "))
    assert float(lag.split()[1]) > 0
    with api.engine.store.write() as tx:
        from datetime import UTC, datetime

        api.engine.store.heartbeat.beat(
            tx, "d1", job="timers", host="h", pid=1, at=datetime.now(UTC), fired=0, sent=0
        )
    text = api.client.get("/metrics").text
    assert "gridflow_daemon_last_pass_timestamp_seconds" in text


def test_metrics_can_require_an_admin(make_api) -> None:
    api = make_api(metrics_public=False)
    assert api.client.get("/metrics").status_code == 401
    assert api.client.get("/metrics", headers=api.auth("li.clerk")).status_code == 403
    assert api.client.get("/metrics", headers=api.auth("ops.admin")).status_code == 200


def test_request_ids_are_echoed_or_made(api) -> None:
    r = api.client.get("/livez", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = api.client.get("/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    assert (
        r.headers["x-request-id"] != "bad id\twith spaces" and len(r.headers["x-request-id"]) == 32
    )


def test_log_lines_are_json_with_the_request_id(api) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLines())
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("gridflow.http.access")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        api.client.get("/api/v1/me", headers=api.auth("li.clerk", **{"X-Request-ID": "rid-7"}))
    finally:
        logger.removeHandler(handler)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "rid-7" and line["status"] == 200
    assert line["route"] == "/api/v1/me" and line["principal"] == "li.clerk"


def test_an_internal_error_is_a_problem_without_a_trace(api, monkeypatch, caplog) -> None:
    def boom(*a, **k):
        raise RuntimeError("secret internals /etc/gridflow")

    monkeypatch.setattr(api.engine.browse, "inbox", boom)
    r = api.client.get("/api/v1/inbox", headers=api.auth("li.clerk"))
    assert r.status_code == 500
    body = r.json()
    assert body["type"].endswith(":internal") and body["request_id"] == r.headers["x-request-id"]
    assert "secret" not in r.text and "Traceback" not in r.text and "RuntimeError" not in r.text


def test_a_json_body_over_the_limit_is_413(make_api) -> None:
    api = make_api(max_body_kb=1)
    body = {"workflow": "ticket", "data": {"title": "x" * 5000}}
    r = api.client.post("/api/v1/cases", headers=api.auth("li.clerk"), json=body)
    assert r.status_code == 413 and r.headers["content-type"] == "application/problem+json"


def test_unknown_route_and_method_are_problems(api) -> None:
    r = api.client.get("/api/v1/nothing-here")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = api.client.delete("/api/v1/workflows", headers=api.auth("li.clerk"))
    assert r.status_code == 405 and r.headers["content-type"] == "application/problem+json"


def test_workflows_org_and_me(api) -> None:
    h = api.auth("li.clerk")
    assert [w["id"] for w in api.client.get("/api/v1/workflows", headers=h).json()] == [
        "errand",
        "inspect",
        "ticket",
    ]
    wf = api.client.get("/api/v1/workflows/inspect", headers=h).json()
    assert wf["data_schema"]["properties"]["photos_after"]["type"] == "array"
    assert wf["data_schema"]["required"] == ["title"]
    assert {f["name"]: f["type"] for f in wf["fields"]}["photo_before"] == "file"
    graph = api.client.get("/api/v1/workflows/ticket/graph", headers=h, params={"format": "dot"})
    assert graph.status_code == 200 and "digraph" in graph.text
    units = api.client.get("/api/v1/org/units", headers=h).json()
    assert units[0]["id"] == "xuhui" and {"police", "g3"} <= {u["id"] for u in units}
    people = api.client.get("/api/v1/org/people", headers=h, params={"unit": "wannan"}).json()
    assert {p["id"] for p in people} >= {"zhao.area", "chen.grid"} and "li.clerk" not in {
        p["id"] for p in people
    }
    assert all(set(p) == {"id", "name", "lang", "roles"} for p in people)  # no addresses
    assert api.client.get("/api/v1/workflows/nope", headers=h).status_code == 404


def test_reports_by_accept_and_who_may_read_them(api) -> None:
    api.start("li.clerk")
    h = api.auth("wang.chief")
    js = api.client.get(
        "/api/v1/reports/kpis", headers=h, params={"unit": "fenglin", "period": "2025"}
    )
    assert js.status_code == 200 and js.headers["content-type"].startswith("application/json")
    assert "four_list" in js.json() or js.json()
    csv = api.client.get(
        "/api/v1/reports/kpis", headers={**h, "Accept": "text/csv"}, params={"unit": "fenglin"}
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    xlsx = api.client.get(
        "/api/v1/reports/kpis",
        headers={
            **h,
            "Accept": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        },
        params={"unit": "fenglin"},
    )
    assert xlsx.status_code == 200 and load_workbook(io.BytesIO(xlsx.content)).sheetnames
    g1 = api.auth("chen.grid")
    assert (
        api.client.get("/api/v1/reports/kpis", headers=g1, params={"unit": "g1"}).status_code == 200
    )
    denied = api.client.get("/api/v1/reports/kpis", headers=g1, params={"unit": "wannan"})
    assert denied.status_code == 403 and denied.json()["permission"] == "unit:wannan"
    assert api.client.get("/api/v1/reports/kpis", headers=g1).status_code == 403
    assert api.client.get("/api/v1/reports/kpis", headers=api.auth("bi.app")).status_code == 200
    bad = api.client.get(
        "/api/v1/reports/kpis", headers=h, params={"unit": "fenglin", "period": "2026Q5"}
    )
    assert bad.status_code == 422
    page = api.client.get("/api/v1/reports/yearly", headers=g1, params={"unit": "g1", "year": 2025})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<html" in page.text.lower()
