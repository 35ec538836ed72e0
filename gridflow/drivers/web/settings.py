"""The ``[web]`` settings of ``gridflow.toml``: the workbench beside the API (driver ring).

::

    [web]
    enabled = true                      # the workbench at / (the API stays at /api/v1)
    idle_minutes = 480                  # a session unused this long ends
    absolute_hours = 168                # … and any session after this long
    cookie_secure = "auto"              # auto: Secure when the request came over https
    login_failures_burst = 10           # failed logins per address …
    login_failures_per_minute = 10      # … refilled at this rate (like [http]'s for tokens)
    max_photos = 6                      # files in one form

    [web.oidc]                          # "sign in with the district's SSO" (authorization code)
    issuer = "https://sso.example.gov.cn/realms/xuhui"
    client_id = "gridflow-web"
    client_secret = "…"                 # or GRIDFLOW_WEB_OIDC_SECRET
    scope = "openid profile"
    claim = "sub"                       # looked up in org.yaml's identities:
    label = "区统一身份认证"

    [web.wecom]                         # "sign in with WeCom" (企业微信 OAuth)
    corp_id = "ww…"
    agent_id = "1000002"
    secret = "…"                        # or GRIDFLOW_WEB_WECOM_SECRET
    claim = "wecom_userid"              # identities: {claim: wecom_userid, value: …}
    authorize_url = "https://open.weixin.qq.com/connect/oauth2/authorize"
    api_base = "https://qyapi.weixin.qq.com"

Redirect URLs are built from the request (``https://HOST/login/oidc/callback``) unless
``redirect_base`` names the public address (behind a proxy that rewrites the host).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from gridflow.errors import GridflowError


@dataclass
class WebOidcSettings:
    issuer: str
    client_id: str
    client_secret: str = ""
    scope: str = "openid profile"
    claim: str = "sub"
    label: str = "统一身份认证"
    leeway_seconds: int = 60
    algorithms: list[str] = field(default_factory=lambda: ["RS256", "ES256"])


@dataclass
class WecomSettings:
    corp_id: str
    agent_id: str
    secret: str = ""
    claim: str = "wecom_userid"
    authorize_url: str = "https://open.weixin.qq.com/connect/oauth2/authorize"
    api_base: str = "https://qyapi.weixin.qq.com"
    timeout_seconds: float = 5.0


@dataclass
class WebSettings:
    enabled: bool = True
    idle_minutes: float = 480
    absolute_hours: float = 168
    cookie_secure: str = "auto"  # auto | always | never
    login_failures_burst: int = 10
    login_failures_per_minute: float = 10
    max_photos: int = 6
    board_cards: int = 50  # cards per column before "more"
    redirect_base: str = ""
    oidc: WebOidcSettings | None = None
    wecom: WecomSettings | None = None

    @classmethod
    def load(cls, raw: Mapping[str, Any], env: Mapping[str, str] = os.environ) -> WebSettings:
        """From the ``[web]`` table and the environment; unknown keys are refused."""
        raw = dict(raw)
        oidc_raw = dict(raw.pop("oidc", {}) or {})
        wecom_raw = dict(raw.pop("wecom", {}) or {})
        _refuse_unknown(raw, {f.name for f in fields(cls)} - {"oidc", "wecom"}, "[web]")
        settings = cls(**raw)
        if settings.cookie_secure not in ("auto", "always", "never"):
            raise GridflowError(
                f"[web] cookie_secure: {settings.cookie_secure!r} (auto, always, never)"
            )
        if env.get("GRIDFLOW_WEB_OIDC_SECRET"):
            oidc_raw["client_secret"] = env["GRIDFLOW_WEB_OIDC_SECRET"]
        if env.get("GRIDFLOW_WEB_WECOM_SECRET"):
            wecom_raw["secret"] = env["GRIDFLOW_WEB_WECOM_SECRET"]
        if oidc_raw:
            _refuse_unknown(oidc_raw, {f.name for f in fields(WebOidcSettings)}, "[web.oidc]")
            _need(oidc_raw, ("issuer", "client_id"), "[web.oidc]")
            settings.oidc = WebOidcSettings(**oidc_raw)
        if wecom_raw:
            _refuse_unknown(wecom_raw, {f.name for f in fields(WecomSettings)}, "[web.wecom]")
            _need(wecom_raw, ("corp_id", "agent_id"), "[web.wecom]")
            settings.wecom = WecomSettings(**wecom_raw)
        return settings


def _need(raw: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    missing = [k for k in keys if not raw.get(k)]
    if missing:
        raise GridflowError(f"{where}: {' and '.join(missing)} must be set")


def _refuse_unknown(raw: Mapping[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        from gridflow.domain.suggest import did_you_mean

        raise GridflowError(
            f"{where}: unknown setting {unknown[0]!r}{did_you_mean(unknown[0], known)}"
        )
