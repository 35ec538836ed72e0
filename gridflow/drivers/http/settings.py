"""The ``[http]`` settings of ``gridflow.toml``, with ``GRIDFLOW_*`` overrides (driver ring).

::

    [http]
    host = "127.0.0.1"
    port = 8080
    files_dir = "files"                 # uploads, content-addressed
    max_upload_mb = 10
    upload_types = ["image/jpeg", "image/png", "image/webp", "image/heic", "application/pdf"]
    max_body_kb = 1024                  # JSON bodies
    log_format = "json"                 # or "text"
    trusted_proxies = ["127.0.0.1"]     # whose X-Forwarded-For is believed
    auth_failures_burst = 10            # failed authentications per address …
    auth_failures_per_minute = 10       # … refilled at this rate
    sse_poll_seconds = 1.0
    metrics_public = true               # /metrics without credentials
    threads = 8                         # handlers at once (more only fight for the GIL)

    [http.oidc]                         # bearer JWTs from the district's SSO
    issuer = "https://sso.example.gov.cn/realms/xuhui"
    audience = "gridflow"
    jwks_url = ""                       # default: from the issuer's discovery document
    claim = "sub"                       # the claim looked up in org.yaml's identities:
    leeway_seconds = 60
    algorithms = ["RS256", "ES256"]

Environment: ``GRIDFLOW_HTTP_HOST``, ``GRIDFLOW_HTTP_PORT``, ``GRIDFLOW_FILES_DIR``,
``GRIDFLOW_LOG_FORMAT``, ``GRIDFLOW_OIDC_ISSUER``, ``GRIDFLOW_OIDC_AUDIENCE``,
``GRIDFLOW_OIDC_JWKS_URL``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gridflow.errors import GridflowError


@dataclass
class OidcSettings:
    issuer: str
    audience: str
    jwks_url: str = ""
    claim: str = "sub"
    leeway_seconds: int = 60
    algorithms: list[str] = field(default_factory=lambda: ["RS256", "ES256"])


@dataclass
class HttpSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    files_dir: str = "files"
    max_upload_mb: float = 10
    upload_types: list[str] = field(
        default_factory=lambda: [
            "image/jpeg",
            "image/png",
            "image/webp",
            "image/heic",
            "application/pdf",
        ]
    )
    max_body_kb: int = 1024
    log_format: str = "json"
    trusted_proxies: list[str] = field(default_factory=list)
    auth_failures_burst: int = 10
    auth_failures_per_minute: float = 10
    sse_poll_seconds: float = 1.0
    metrics_public: bool = True
    threads: int = 8  # handlers at once (the thread pool FastAPI runs them in)
    oidc: OidcSettings | None = None

    @classmethod
    def load(cls, raw: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> HttpSettings:
        """From the ``[http]`` table and the environment; unknown keys are refused."""
        raw = dict(raw)
        oidc_raw = dict(raw.pop("oidc", {}) or {})
        known = {f.name for f in fields(cls)} - {"oidc"}
        _refuse_unknown(raw, known, "[http]")
        settings = cls(**raw)
        settings.host = env.get("GRIDFLOW_HTTP_HOST", settings.host)
        settings.port = int(env.get("GRIDFLOW_HTTP_PORT", settings.port))
        settings.files_dir = env.get("GRIDFLOW_FILES_DIR", settings.files_dir)
        settings.log_format = env.get("GRIDFLOW_LOG_FORMAT", settings.log_format)
        for key, var in (
            ("issuer", "GRIDFLOW_OIDC_ISSUER"),
            ("audience", "GRIDFLOW_OIDC_AUDIENCE"),
            ("jwks_url", "GRIDFLOW_OIDC_JWKS_URL"),
        ):
            if env.get(var):
                oidc_raw[key] = env[var]
        if oidc_raw:
            _refuse_unknown(oidc_raw, {f.name for f in fields(OidcSettings)}, "[http.oidc]")
            missing = [k for k in ("issuer", "audience") if not oidc_raw.get(k)]
            if missing:
                raise GridflowError(f"[http.oidc]: {' and '.join(missing)} must be set")
            settings.oidc = OidcSettings(**oidc_raw)
        if settings.log_format not in ("json", "text"):
            raise GridflowError(f"[http] log_format: {settings.log_format!r} (json or text)")
        return settings

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def _refuse_unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        from gridflow.domain.suggest import did_you_mean

        raise GridflowError(
            f"{where}: unknown setting {unknown[0]!r}{did_you_mean(unknown[0], known)}"
        )
