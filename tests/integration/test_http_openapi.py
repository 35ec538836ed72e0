"""The OpenAPI document: committed as docs/openapi.json and equal to what the app serves;
and schemathesis against the app in-process (ASGI) — every operation, a fixed example
budget, stateful links — with zero server errors and zero responses that break the schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import schemathesis
from http_fixtures import DATA_HTTP, http_directory, png_bytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from gridflow.drivers.http.app import create_app
from gridflow.drivers.http.openapi import text
from gridflow.drivers.http.settings import HttpSettings

COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 12


def test_committed_openapi_is_what_the_app_serves(make_api) -> None:
    api = make_api()
    served = api.client.get("/api/openapi.json").json()
    assert json.loads(COMMITTED.read_text(encoding="utf-8")) == served, (
        "docs/openapi.json is stale: gridflow serve --print-openapi > docs/openapi.json"
    )
    assert COMMITTED.read_text(encoding="utf-8") == text(api.app)
    assert served["openapi"].startswith("3.1")
    ids = [op["operationId"] for ops in served["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))
    assert served["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    fire = served["paths"]["/api/v1/cases/{case_id}/events"]["post"]["responses"]
    assert "application/problem+json" in fire["412"]["content"]


@pytest.fixture
def fuzz_app(make_engine, tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'fuzz.db'}", DATA_HTTP, directory=http_directory())
    app = create_app(engine, HttpSettings(files_dir=str(tmp_path / "files")), sweep=False)
    token = engine.tokens.create("fuzz.admin").token
    # something to find: cases of each workflow, a file, a notice
    for title in ("一", "二"):
        engine.start("ticket", actor="fuzz.admin", data={"title": title})
    engine.start("errand", actor="fuzz.admin", unit="g1", data={"title": "三"})
    import io

    engine.files.configure(tmp_path / "files")
    engine.files.store(io.BytesIO(png_bytes()), "p.png", uploader="fuzz.admin", case_id=1)
    app.state.fuzz_token = token
    return app


@pytest.fixture
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_app)


OPERATIONS = [
    (path, method)
    for path, ops in json.loads(COMMITTED.read_text(encoding="utf-8"))["paths"].items()
    for method in ops
]


@pytest.mark.parametrize("path,method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_every_operation_answers_within_its_schema(path, method, api_schema, fuzz_app) -> None:
    headers = {"Authorization": f"Bearer {fuzz_app.state.fuzz_token}"}
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case) -> None:
        if path == "/api/v1/events/stream":
            case.query = {**(case.query or {}), "max_seconds": 0}  # an endless stream otherwise
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


LINKED = [
    ("/api/v1/cases/{case_id}", "get"),
    ("/api/v1/cases/{case_id}/events", "post"),
    ("/api/v1/cases/{case_id}/history", "get"),
    ("/api/v1/cases/{case_id}/children", "get"),
    ("/api/v1/cases/{case_id}/files", "get"),
    ("/api/v1/cases/{case_id}/files", "post"),
]


def test_links_from_a_started_case(api_schema, fuzz_app) -> None:
    """What the document's links describe, followed: start a case (a valid body), then every
    operation linked from it on that case, with generated inputs — within the schema."""
    from starlette.testclient import TestClient

    headers = {"Authorization": f"Bearer {fuzz_app.state.fuzz_token}"}
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    links = doc["paths"]["/api/v1/cases"]["post"]["responses"]["201"]["links"]
    assert {link["operationId"] for link in links.values()} >= {"get_case", "fire_event", "history"}
    client = TestClient(fuzz_app)
    started = [
        client.post(
            "/api/v1/cases",
            headers=headers,
            json={"workflow": wf, "data": {"title": "链"}, **extra},
        )
        for wf, extra in (("ticket", {}), ("errand", {"unit": "g1"}), ("inspect", {"unit": "g1"}))
    ]
    assert [r.status_code for r in started] == [201, 201, 201]
    ids = [r.json()["id"] for r in started]
    for path, method in LINKED:
        operation = api_schema[path][method]

        @given(case=operation.as_strategy(), which=st.sampled_from(ids))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
            database=None,
        )
        def run(case, which) -> None:
            case.path_parameters = {**(case.path_parameters or {}), "case_id": which}
            case.call_and_validate(headers=headers, checks=CHECKS)

        run()
