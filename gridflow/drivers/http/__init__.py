"""``gridflow serve``: the HTTP API (driver ring) — FastAPI over the synchronous ``Engine``.

Modules: ``app`` (``create_app``: the application factory), ``settings`` (``[http]`` of
``gridflow.toml`` and ``GRIDFLOW_*``), ``auth`` (principals from API tokens and OIDC bearer
tokens; the failed-authentication rate limit), ``oidc`` (JWT validation against the issuer's
JWKS), ``problems`` (every error as ``application/problem+json``), ``schemas`` (the
pydantic models of the API), ``middleware`` (request ids, JSON-line logs, metrics, body
limits), ``metrics`` (Prometheus), ``sse`` (the change feed as Server-Sent Events), one
module per resource group (``workflows``, ``cases``, ``files``, ``org``, ``reports``,
``admin``, ``events``, ``ops``), ``openapi`` (the committed ``docs/openapi.json``) and
``server`` (uvicorn, ``--with-daemon``, SIGHUP).

Handlers are plain ``def`` functions: FastAPI runs them in its thread pool over the engine.
This package never imports SQL (the import-linter contract): every operation is the
service ring's.
"""
