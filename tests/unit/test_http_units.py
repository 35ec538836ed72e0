"""Pure parts of the HTTP API: the failed-auth token bucket, the visibility rule, the org
format's identity sections, a workflow's data schema, If-Match, settings."""

from __future__ import annotations

import pytest
from conftest import make_directory
from jsonschema import Draft202012Validator

from gridflow.domain.access import scope_for
from gridflow.domain.data_schema import data_schema
from gridflow.domain.org_loader import load_org_text
from gridflow.drivers.http.ratelimit import FailureLimiter
from gridflow.drivers.http.settings import HttpSettings
from gridflow.errors import DefinitionError, GridflowError, RateLimited


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_token_bucket_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = FailureLimiter(burst=2, per_minute=6, clock=clock)  # one every 10 s
    for _ in range(2):
        limiter.check("1.2.3.4")
        limiter.failed("1.2.3.4")
    with pytest.raises(RateLimited) as err:
        limiter.check("1.2.3.4")
    assert 9 < err.value.retry_after <= 10
    limiter.check("5.6.7.8")  # another address is not affected
    clock.t += 10
    limiter.check("1.2.3.4")
    limiter.failed("1.2.3.4")
    with pytest.raises(RateLimited):
        limiter.check("1.2.3.4")


def test_token_bucket_forgets_the_oldest_addresses() -> None:
    limiter = FailureLimiter(burst=1, per_minute=1, max_addresses=2, clock=Clock())
    for a in ("a", "b", "c"):
        limiter.failed(a)
    limiter.check("a")  # forgotten: a fresh bucket
    with pytest.raises(RateLimited):
        limiter.check("c")


def test_visibility_rule() -> None:
    d = make_directory()
    chen = scope_for(d.people["chen.grid"], d)  # grid@g1
    assert chen.sees("g1", "xuhui/fenglin/wannan/g1", None, None)  # own unit
    assert chen.sees("wannan", "xuhui/fenglin/wannan", None, None)  # above: the area's own cases
    assert chen.sees("police", "xuhui/fenglin/police", None, None)  # a department under the street
    assert not chen.sees("g2", "xuhui/fenglin/wannan/g2", None, None)  # a sibling grid
    assert not chen.sees("g3", "xuhui/fenglin/wanbei/g3", None, None)
    assert chen.sees("g3", "xuhui/fenglin/wanbei/g3", None, "chen.grid")  # started it
    cop = scope_for(d.people["cop"], d)
    assert cop.sees("g3", "xuhui/fenglin/wanbei/g3", "police", None)  # addressed to police
    assert not cop.sees("g3", "xuhui/fenglin/wanbei/g3", "housing", None)
    nobody = scope_for(d.people["nobody"], d)
    assert not nobody.sees(None, None, None, None)
    assert scope_for(d.people["nobody"], d, everything=True).sees("g3", "x", None, None)
    assert chen.sees_unit("g1", d) and not chen.sees_unit("wannan", d)


ORG = """
units: {id: s, name: 街道, kind: street, children: [{id: g, name: 网格, kind: grid}]}
people:
  - {id: a, name: 甲, roles: [{role: r, unit: g}], acts_for: [{person: b}], permissions: [admin]}
  - {id: b, name: 乙, roles: [{role: r, unit: g}]}
service_accounts:
  - {id: app, name: 应用, roles: [{role: r, unit: s}], acts_for: [{unit: g}], permissions: [read_all]}
identities:
  - {claim: sub, value: "1", person: a}
"""


def test_org_identity_sections() -> None:
    d = load_org_text(ORG)
    assert d.may_act_for("a", "b") and not d.may_act_for("b", "a")
    assert d.may_act_for("app", "a") and d.may_act_for("app", "b")
    assert d.permissions_of("a") == {"admin"} and d.permissions_of("app") == {"read_all"}
    assert d.person_for_claim("sub", "1", "https://any") == "a"
    assert d.service_accounts["app"].actor.grants[0].unit == "s"


@pytest.mark.parametrize(
    "edit,message",
    [
        ("acts_for: [{person: b}]", None),
        ("acts_for: [{person: zz}]", "unknown person 'zz'"),
        ("acts_for: [{unit: nowhere}]", "unknown unit 'nowhere'"),
        ("acts_for: [{person: b, unit: g}]", "exactly one of"),
        ("permissions: [admin]", None),
        ("permissions: [root]", "root"),
    ],
)
def test_org_identity_sections_are_checked_with_locations(edit, message) -> None:
    text = ORG.replace("acts_for: [{person: b}], permissions: [admin]", edit)
    if message is None:
        load_org_text(text)
        return
    with pytest.raises(DefinitionError) as err:
        load_org_text(text, "org.yaml")
    assert message in str(err.value) and "org.yaml:" in str(err.value)


def test_duplicate_accounts_and_identities_are_refused() -> None:
    text = ORG + '  - {claim: sub, value: "1", person: b}\n'
    with pytest.raises(DefinitionError, match="mapped already"):
        load_org_text(text)
    with pytest.raises(DefinitionError, match="already a person"):
        load_org_text(ORG.replace("id: app", "id: a"))


def test_data_schema_describes_every_field_type() -> None:
    from conftest import DATA

    from gridflow.domain.loader import load_dir

    for wf in (*load_dir(DATA).values(), *load_dir(DATA.parent / "data_http").values()):
        schema = data_schema(wf.definition)
        Draft202012Validator.check_schema(schema)
        assert set(schema["properties"]) == set(wf.definition.fields)
    inspect = load_dir(DATA.parent / "data_http")["inspect"].definition
    v = Draft202012Validator(data_schema(inspect))
    assert v.is_valid({"title": "x", "photos_after": ["f_abcdefghij"]})
    assert not v.is_valid({"title": "x", "photos_after": ["../etc"]})
    assert not v.is_valid({"photo_before": "f_abcdefghij"})  # title is required


def test_if_match_parsing() -> None:
    from fastapi import HTTPException

    from gridflow.drivers.http.cases import parse_if_match

    assert parse_if_match('"3"') == 3 and parse_if_match('W/"12"') == 12
    assert parse_if_match("7") == 7 and parse_if_match("*") is None and parse_if_match(None) is None
    for bad in ('"x"', '"1", "2"', '"' + "9" * 20 + '"'):
        with pytest.raises(HTTPException):
            parse_if_match(bad)


def test_http_settings_from_file_and_environment() -> None:
    s = HttpSettings.load({"port": 9000, "oidc": {"issuer": "https://sso", "audience": "gf"}}, {})
    assert s.port == 9000 and s.oidc is not None and s.oidc.claim == "sub"
    s = HttpSettings.load(
        {},
        {
            "GRIDFLOW_HTTP_PORT": "9100",
            "GRIDFLOW_OIDC_ISSUER": "https://i",
            "GRIDFLOW_OIDC_AUDIENCE": "a",
        },
    )
    assert s.port == 9100 and s.oidc is not None and s.oidc.issuer == "https://i"
    with pytest.raises(GridflowError, match="did you mean 'port'"):
        HttpSettings.load({"prot": 1}, {})
    with pytest.raises(GridflowError, match="audience"):
        HttpSettings.load({"oidc": {"issuer": "https://i"}}, {})
