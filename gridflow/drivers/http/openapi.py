"""The OpenAPI 3.1 document: FastAPI's, with problem responses as
``application/problem+json`` and links between operations (driver ring).

``docs/openapi.json`` is this document, committed; a test keeps it equal to what the app
serves. Write it again with ``gridflow serve --print-openapi > docs/openapi.json``.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

DESCRIPTION = """\
gridflow's HTTP API: workflows, cases, the inbox, files, the org, reports, the change feed,
administration. Every `/api/v1` operation needs `Authorization: Bearer <token>`: an API token
(`gridflow token create`) or an OIDC access token of the district's SSO. The actor of every
step is the authenticated principal; `On-Behalf-Of` acts for another person where the org
directory grants it. Errors are `application/problem+json` (RFC 9457); every response
carries `X-Request-ID`.
"""

PROBLEM = {"$ref": "#/components/schemas/Problem"}
CASE_LINK = {"case_id": "$response.body#/id"}
LINKS = {
    ("/api/v1/cases", "post", "201"): {
        "GetCase": {"operationId": "get_case", "parameters": CASE_LINK},
        "FireEvent": {"operationId": "fire_event", "parameters": CASE_LINK},
        "History": {"operationId": "history", "parameters": CASE_LINK},
        "Children": {"operationId": "children", "parameters": CASE_LINK},
        "CaseFiles": {"operationId": "case_files", "parameters": CASE_LINK},
        "UploadToCase": {"operationId": "upload_to_case", "parameters": CASE_LINK},
    },
    ("/api/v1/cases/{case_id}/events", "post", "200"): {
        "GetCase": {"operationId": "get_case", "parameters": CASE_LINK},
        "History": {"operationId": "history", "parameters": CASE_LINK},
    },
    ("/api/v1/files", "post", "201"): {
        "FileInfo": {"operationId": "file_info", "parameters": {"file_id": "$response.body#/id"}},
        "FileContent": {
            "operationId": "file_content",
            "parameters": {"file_id": "$response.body#/id"},
        },
    },
    ("/api/v1/admin/tokens", "post", "201"): {
        "RevokeToken": {
            "operationId": "revoke_token",
            "parameters": {"token_id": "$response.body#/id"},
        },
    },
}


def document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document (built once, then cached on the app)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title="gridflow",
        version=app.version,
        openapi_version="3.1.0",
        description=DESCRIPTION,
        routes=app.routes,
    )
    for path, ops in doc.get("paths", {}).items():
        for method, op in ops.items():
            for status, answer in op.get("responses", {}).items():
                if status[0] == "4":  # every refusal is a problem document, whatever 200 is
                    answer["content"] = {"application/problem+json": {"schema": PROBLEM}}
                links = LINKS.get((path, method, status))
                if links:
                    answer["links"] = links
    app.openapi_schema = doc
    return doc


def text(app: FastAPI) -> str:
    """The document as committed: sorted keys, two-space indents, a final newline."""
    return json.dumps(document(app), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
