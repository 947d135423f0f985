from __future__ import annotations

from datetime import datetime

import pytest

from resolvers.domain import iso
from resolvers.personalization import RuleSpec, choose_variant
from tests.conftest import gql
from tests.factories import make_campaign


def spec(
    rule_id: str,
    priority: int = 0,
    *,
    enabled: bool = True,
    campaign_in: set[str] | None = None,
    device_in: set[str] | None = None,
    country_in: set[str] | None = None,
    source_in: set[str] | None = None,
) -> RuleSpec:
    def frozen(values: set[str] | None) -> frozenset[str] | None:
        return None if values is None else frozenset(values)

    return RuleSpec(
        rule_id=rule_id,
        priority=priority,
        enabled=enabled,
        campaign_in=frozen(campaign_in),
        device_in=frozen(device_in),
        country_in=frozen(country_in),
        source_in=frozen(source_in),
        variant_id=f"v-{rule_id}",
        destination_url=f"https://example.com/{rule_id}",
    )


CLICK = {"campaign_id": "spring-launch", "device": "MOBILE", "country": "DE", "source": "google"}


def chosen(rules: list[RuleSpec], **overrides: object) -> str | None:
    rule = choose_variant(rules, **{**CLICK, **overrides})  # type: ignore[arg-type]
    return rule.rule_id if rule else None


# --- choose_variant ------------------------------------------------------------------------


def test_higher_priority_wins_whatever_the_input_order():
    rules = [spec("low", 1), spec("high", 100), spec("mid", 50)]
    assert chosen(rules) == "high"
    assert chosen(list(reversed(rules))) == "high"


def test_equal_priority_ties_break_on_rule_id():
    assert chosen([spec("bbb", 5), spec("aaa", 5), spec("ccc", 5)]) == "aaa"


def test_negative_priority_loses_to_default():
    assert chosen([spec("neg", -10), spec("zero")]) == "zero"


def test_disabled_rules_are_skipped():
    rules = [spec("off", 100, enabled=False), spec("on", 1)]
    assert chosen(rules) == "on"
    assert chosen([spec("off", enabled=False)]) is None


def test_empty_when_matches_every_click():
    assert chosen([spec("all")], campaign_id=None, device="TABLET", country="unknown") == "all"


@pytest.mark.parametrize(
    ("condition", "hit", "miss"),
    [
        ("campaign_in", {"campaign_id": "spring-launch"}, {"campaign_id": "autumn"}),
        ("device_in", {"device": "MOBILE"}, {"device": "DESKTOP"}),
        ("country_in", {"country": "DE"}, {"country": "FR"}),
        ("source_in", {"source": "google"}, {"source": "newsletter"}),
    ],
)
def test_each_condition_kind_filters(condition, hit, miss):
    value = {
        "campaign_in": {"spring-launch"},
        "device_in": {"MOBILE", "TABLET"},
        "country_in": {"DE", "AT"},
        "source_in": {"google"},
    }[condition]
    rules = [spec("targeted", **{condition: value})]
    assert chosen(rules, **hit) == "targeted"
    assert chosen(rules, **miss) is None


def test_campaign_condition_never_matches_a_click_without_campaign():
    assert chosen([spec("c", campaign_in={"spring-launch"})], campaign_id=None) is None


def test_all_given_conditions_must_hold():
    rules = [
        spec(
            "all-four",
            10,
            campaign_in={"spring-launch"},
            device_in={"MOBILE"},
            country_in={"DE"},
            source_in={"google"},
        ),
        spec("fallback", 0),
    ]
    assert chosen(rules) == "all-four"
    for miss in (
        {"campaign_id": "other"},
        {"device": "DESKTOP"},
        {"country": "US"},
        {"source": "bing"},
    ):
        assert chosen(rules, **miss) == "fallback", miss


def test_first_match_in_priority_order_wins_over_a_more_specific_rule():
    rules = [spec("broad", 10), spec("narrow", 5, device_in={"MOBILE"}, country_in={"DE"})]
    assert chosen(rules) == "broad"


def test_click_values_are_normalised_before_comparison():
    rules = [spec("r", device_in={"MOBILE"}, country_in={"DE"}, source_in={"google"})]
    assert chosen(rules, device="mobile", country="de", source="  Google ") == "r"


def test_no_rules_or_no_match_returns_none():
    assert chosen([]) is None
    assert chosen([spec("fr", country_in={"FR"})]) is None


# --- REST ---------------------------------------------------------------------------------

SEED_RULE = {
    "ruleId": "spring-mobile-variant",
    "enabled": True,
    "priority": 100,
    "when": {"campaignIn": ["spring-launch"], "deviceIn": ["MOBILE"]},
    "variant": {"id": "mobile-optimized", "destinationUrl": "https://m.shop.example.com/spring"},
}


def rules_url(handle: str, rule_id: str | None = None) -> str:
    base = f"/v2/handles/{handle}/personalization/rules"
    return f"{base}/{rule_id}" if rule_id else base


async def list_ids(client, tenant) -> list[str]:
    response = await client.get(rules_url(tenant.handle), headers=tenant.auth("VIEWER"))
    assert response.status_code == 200, response.text
    return [r["ruleId"] for r in response.json()["rules"]]


async def test_seed_rule_round_trips_through_rest(client, tenant):
    await make_campaign(client, tenant)
    created = await client.post(rules_url(tenant.handle), json=SEED_RULE, headers=tenant.auth())
    assert created.status_code == 201, created.text
    rule = created.json()["rule"]
    assert {k: rule[k] for k in SEED_RULE} == SEED_RULE
    assert rule["createdAt"] and rule["updatedAt"]

    fetched = await client.get(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth("VIEWER")
    )
    assert fetched.status_code == 200
    assert fetched.json() == {"rule": rule}

    listed = await client.get(rules_url(tenant.handle), headers=tenant.auth("VIEWER"))
    assert listed.json() == {"rules": [rule]}

    replaced = await client.put(
        rules_url(tenant.handle, "spring-mobile-variant"),
        json={
            "enabled": False,
            "when": {"countryIn": ["de"]},
            "variant": {"id": "german", "destinationUrl": "https://shop.example.com/de"},
        },
        headers=tenant.auth(),
    )
    assert replaced.status_code == 200, replaced.text
    after = replaced.json()["rule"]
    assert after["ruleId"] == "spring-mobile-variant"
    assert after["enabled"] is False
    assert after["priority"] == 0  # PUT replaces: omitted fields take their defaults
    assert after["when"] == {"countryIn": ["DE"]}
    assert after["variant"] == {"id": "german", "destinationUrl": "https://shop.example.com/de"}
    assert after["createdAt"] == rule["createdAt"]

    deleted = await client.delete(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth()
    )
    assert deleted.status_code == 204
    gone = await client.get(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth()
    )
    assert gone.status_code == 404
    assert gone.json()["error"] == "rule_not_found"
    again = await client.delete(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth()
    )
    assert again.status_code == 404
    assert await list_ids(client, tenant) == []


async def test_put_creates_a_missing_rule_with_201(client, tenant):
    body = {"variant": {"id": "v1", "destinationUrl": "https://example.com/"}}
    first = await client.put(rules_url(tenant.handle, "by-path"), json=body, headers=tenant.auth())
    assert first.status_code == 201, first.text
    assert first.json()["rule"]["ruleId"] == "by-path"
    assert first.json()["rule"]["when"] == {}
    second = await client.put(rules_url(tenant.handle, "by-path"), json=body, headers=tenant.auth())
    assert second.status_code == 200


async def test_create_generates_a_rule_id_when_omitted(client, tenant):
    body = {"variant": {"id": "v1", "destinationUrl": "https://example.com/"}}
    response = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    assert response.status_code == 201, response.text
    rule = response.json()["rule"]
    assert rule["ruleId"].startswith("rule_")
    assert rule["enabled"] is True and rule["priority"] == 0


async def test_duplicate_rule_id_is_a_conflict(client, tenant):
    body = {**SEED_RULE, "when": {}}
    assert (
        await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    ).status_code == 201
    again = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    assert again.status_code == 409
    assert again.json()["error"] == "rule_conflict"


async def test_list_is_in_evaluation_order(client, tenant):
    for rule_id, priority in [("b-rule", 5), ("low", -3), ("a-rule", 5), ("top", 900)]:
        body = {"priority": priority, "variant": {"id": rule_id, "destinationUrl": "https://x.io/"}}
        response = await client.put(
            rules_url(tenant.handle, rule_id), json=body, headers=tenant.auth()
        )
        assert response.status_code == 201, response.text
    assert await list_ids(client, tenant) == ["top", "a-rule", "b-rule", "low"]


async def test_conditions_are_normalised_and_deduplicated(client, tenant):
    body = {
        "ruleId": "normalised",
        "when": {
            "deviceIn": ["mobile", "MOBILE", "Tablet"],
            "countryIn": ["de", "DE", "at"],
            "sourceIn": ["  Google ", "google", "NewsLetter"],
        },
        "variant": {"id": "v", "destinationUrl": "https://example.com/"},
    }
    response = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    assert response.status_code == 201, response.text
    assert response.json()["rule"]["when"] == {
        "deviceIn": ["MOBILE", "TABLET"],
        "countryIn": ["DE", "AT"],
        "sourceIn": ["google", "newsletter"],
    }


def _with(**changes: object) -> dict[str, object]:
    body = {k: v for k, v in SEED_RULE.items() if k != "when"}
    body["when"] = {"deviceIn": ["MOBILE"]}
    for key, value in changes.items():
        if key == "when":
            body["when"] = value
        elif key == "destinationUrl":
            body["variant"] = {**SEED_RULE["variant"], "destinationUrl": value}  # type: ignore[dict-item]
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_with(when={"countryIn": ["XX"]}), "invalid_request"),
        (_with(when={"countryIn": ["DEU"]}), "invalid_request"),
        (_with(when={"deviceIn": ["WATCH"]}), "invalid_request"),
        (_with(when={"sourceIn": []}), "invalid_request"),
        (_with(when={"sourceIn": [f"s{i}" for i in range(101)]}), "invalid_request"),
        (_with(when={"browserIn": ["chrome"]}), "invalid_request"),
        (_with(extra=True), "invalid_request"),
        (_with(priority=1_000_001), "invalid_request"),
        (_with(priority="high"), "invalid_request"),
        (_with(enabled="yes"), "invalid_request"),
        (_with(destinationUrl="ftp://example.com/file"), "invalid_destination_url"),
        (_with(destinationUrl="javascript:alert(1)"), "invalid_destination_url"),
        (_with(variant={"id": "bad id", "destinationUrl": "https://x.io/"}), "invalid_request"),
        (_with(variant={"id": "default", "destinationUrl": "https://x.io/"}), "invalid_variant_id"),
        (_with(ruleId="Bad Id!"), "invalid_rule_id"),
        ({"ruleId": "no-variant"}, "invalid_request"),
    ],
)
async def test_invalid_bodies_are_rejected_and_nothing_is_written(client, tenant, body, code):
    response = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    assert response.status_code == 400, response.text
    assert response.json()["error"] == code
    put = await client.put(
        rules_url(tenant.handle, "spring-mobile-variant"), json=body, headers=tenant.auth()
    )
    assert put.status_code == 400, put.text
    assert await list_ids(client, tenant) == []


async def test_unknown_campaign_is_404_and_nothing_is_written(client, tenant):
    await make_campaign(client, tenant)
    body = _with(when={"campaignIn": ["spring-launch", "no-such-campaign"]})
    response = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"
    assert "no-such-campaign" in response.json()["message"]
    put = await client.put(
        rules_url(tenant.handle, "spring-mobile-variant"), json=body, headers=tenant.auth()
    )
    assert put.status_code == 404
    assert await list_ids(client, tenant) == []


async def test_campaign_of_another_handle_is_not_found(client, tenant):
    response = await client.post(
        f"/v2/handles/{tenant.other_handle}/campaigns",
        json={"campaignId": "globex-sale", "goalType": "PRODUCT_SALE"},
        headers=tenant.auth(handle=tenant.other_handle),
    )
    assert response.status_code == 201, response.text
    body = _with(when={"campaignIn": ["globex-sale"]})
    response = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    assert response.status_code == 404
    assert response.json()["error"] == "campaign_not_found"


async def test_put_body_rule_id_must_match_the_path(client, tenant):
    body = _with(ruleId="another-id")
    response = await client.put(
        rules_url(tenant.handle, "spring-mobile-variant"), json=body, headers=tenant.auth()
    )
    assert response.status_code == 400
    assert await list_ids(client, tenant) == []


async def test_invalid_rule_id_in_path_is_rejected(client, tenant):
    response = await client.put(
        rules_url(tenant.handle, "X"), json=_with(ruleId=None), headers=tenant.auth()
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_rule_id"


# --- auth ---------------------------------------------------------------------------------


async def test_viewer_reads_but_cannot_write(client, tenant):
    body = _with()
    response = await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth("VIEWER"))
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"
    put = await client.put(
        rules_url(tenant.handle, "spring-mobile-variant"), json=body, headers=tenant.auth("VIEWER")
    )
    assert put.status_code == 403
    assert (
        await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    ).status_code == 201
    delete = await client.delete(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth("VIEWER")
    )
    assert delete.status_code == 403
    assert await list_ids(client, tenant) == ["spring-mobile-variant"]


async def test_other_handle_is_forbidden_and_its_rules_invisible(client, tenant):
    outsider = tenant.auth("ADMIN", handle=tenant.other_handle)
    response = await client.post(rules_url(tenant.handle), json=_with(), headers=outsider)
    assert response.status_code == 403
    assert (await client.get(rules_url(tenant.handle), headers=outsider)).status_code == 403
    # The other handle's own (empty) list does not show this handle's rules.
    assert (
        await client.post(rules_url(tenant.handle), json=_with(), headers=tenant.auth())
    ).status_code == 201
    theirs = await client.get(rules_url(tenant.other_handle), headers=outsider)
    assert theirs.status_code == 200
    assert theirs.json() == {"rules": []}


async def test_no_token_is_401(client, tenant):
    for method, url in [
        ("GET", rules_url(tenant.handle)),
        ("POST", rules_url(tenant.handle)),
        ("GET", rules_url(tenant.handle, "spring-mobile-variant")),
        ("PUT", rules_url(tenant.handle, "spring-mobile-variant")),
        ("DELETE", rules_url(tenant.handle, "spring-mobile-variant")),
    ]:
        body = _with() if method in ("POST", "PUT") else None
        response = await client.request(method, url, json=body)
        assert response.status_code == 401, (method, url)
        assert response.json()["error"] == "unauthenticated"


async def test_pat_needs_campaign_scopes(client, tenant, make_pat):
    reader = {"Authorization": f"Bearer {await make_pat(tenant.handle, 'campaigns.read')}"}
    writer = {"Authorization": f"Bearer {await make_pat(tenant.handle, 'campaigns.write')}"}
    assert (await client.get(rules_url(tenant.handle), headers=reader)).status_code == 200
    assert (
        await client.post(rules_url(tenant.handle), json=_with(), headers=reader)
    ).status_code == 403
    assert (
        await client.post(rules_url(tenant.handle), json=_with(), headers=writer)
    ).status_code == 201


# --- cache invalidation -------------------------------------------------------------------


async def test_every_write_invalidates_the_handles_rule_cache(client, tenant, app, monkeypatch):
    """The change hub drops the handle's cached rules after each committed rule write."""
    cache = app.state.services.rules_cache
    invalidated: list[str] = []
    real = cache.invalidate

    def recording(handle: str) -> None:
        invalidated.append(handle)
        real(handle)

    monkeypatch.setattr(cache, "invalidate", recording)
    url = rules_url(tenant.handle, "spring-mobile-variant")
    body = _with()
    assert (
        await client.post(rules_url(tenant.handle), json=body, headers=tenant.auth())
    ).status_code == 201
    assert (await client.put(url, json=body, headers=tenant.auth())).status_code == 200
    assert (await client.get(url, headers=tenant.auth())).status_code == 200
    assert (await client.delete(url, headers=tenant.auth())).status_code == 204
    bad = await client.post(rules_url(tenant.handle), json=_with(extra=1), headers=tenant.auth())
    assert bad.status_code == 400
    assert invalidated == [tenant.handle] * 3


async def test_load_rule_specs_returns_enabled_rules_in_evaluation_order(client, tenant, ctx):
    from resolvers.personalization import load_rule_specs

    await make_campaign(client, tenant)
    rules = [
        ("later", 1, True, {"countryIn": ["de"], "sourceIn": ["Google"]}),
        ("first", 50, True, {"campaignIn": ["spring-launch"], "deviceIn": ["mobile"]}),
        ("off", 99, False, {}),
    ]
    for rule_id, priority, enabled, when in rules:
        body = {
            "priority": priority,
            "enabled": enabled,
            "when": when,
            "variant": {"id": f"v-{rule_id}", "destinationUrl": f"https://x.io/{rule_id}"},
        }
        response = await client.put(
            rules_url(tenant.handle, rule_id), json=body, headers=tenant.auth()
        )
        assert response.status_code == 201, response.text
    async with ctx.sessions() as session:
        specs = await load_rule_specs(session, tenant.handle)
    assert [s.rule_id for s in specs] == ["first", "later"]
    first, later = specs
    assert first.campaign_in == frozenset({"spring-launch"})
    assert first.device_in == frozenset({"MOBILE"})
    assert first.country_in is None and first.source_in is None
    assert later.country_in == frozenset({"DE"}) and later.source_in == frozenset({"google"})
    assert (later.variant_id, later.destination_url) == ("v-later", "https://x.io/later")
    picked = choose_variant(
        specs, campaign_id="spring-launch", device="mobile", country="de", source="google"
    )
    assert picked is first
    picked = choose_variant(
        specs, campaign_id="spring-launch", device="desktop", country="de", source="google"
    )
    assert picked is later


# --- GraphQL ------------------------------------------------------------------------------

RULE_FIELDS = """
  ruleId enabled priority
  when { campaignIn deviceIn countryIn sourceIn }
  variant { id destinationUrl }
  createdAt updatedAt
"""
CREATE = (
    "mutation($h: String!, $input: PersonalizationRuleInput!)"
    "{ createPersonalizationRule(handle: $h, input: $input) {" + RULE_FIELDS + "} }"
)
UPSERT = (
    "mutation($h: String!, $id: String!, $input: PersonalizationRuleInput!)"
    "{ upsertPersonalizationRule(handle: $h, ruleId: $id, input: $input) {" + RULE_FIELDS + "} }"
)
DELETE = "mutation($h: String!, $id: String!){ deletePersonalizationRule(handle: $h, ruleId: $id) }"
GET = (
    "query($h: String!, $id: String!)"
    "{ personalizationRule(handle: $h, ruleId: $id) {" + RULE_FIELDS + "} }"
)
LIST = "query($h: String!){ personalizationRules(handle: $h) {" + RULE_FIELDS + "} }"


def _millis(stamp: str) -> datetime:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def as_rest(rule: dict) -> dict:
    """A GraphQL rule in the REST shape: `when` without nulls, timestamps as REST writes them
    (GraphQL's DateTime keeps microseconds, REST rounds to milliseconds)."""
    when = {k: v for k, v in rule["when"].items() if v is not None}
    stamps = {k: iso(_millis(rule[k])) for k in ("createdAt", "updatedAt")}
    return {**rule, "when": when, **stamps}


async def test_graphql_crud_round_trip_matches_rest(client, tenant):
    await make_campaign(client, tenant)
    seed_input = {
        "ruleId": "spring-mobile-variant",
        "enabled": True,
        "priority": 100,
        "when": {"campaignIn": ["spring-launch"], "deviceIn": ["MOBILE"]},
        "variant": {
            "id": "mobile-optimized",
            "destinationUrl": "https://m.shop.example.com/spring",
        },
    }
    body = await gql(client, CREATE, tenant.auth(), h=tenant.handle, input=seed_input)
    assert "errors" not in body, body
    created = body["data"]["createPersonalizationRule"]
    assert created["when"] == {
        "campaignIn": ["spring-launch"],
        "deviceIn": ["MOBILE"],
        "countryIn": None,
        "sourceIn": None,
    }

    rest = await client.get(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth("VIEWER")
    )
    assert rest.json()["rule"] == as_rest(created)
    rest_created = {k: rest.json()["rule"][k] for k in SEED_RULE}
    assert rest_created == SEED_RULE

    body = await gql(
        client, GET, tenant.auth("VIEWER"), h=tenant.handle, id="spring-mobile-variant"
    )
    assert body["data"]["personalizationRule"] == created
    body = await gql(client, LIST, tenant.auth("VIEWER"), h=tenant.handle)
    assert body["data"]["personalizationRules"] == [created]

    replacement = {
        "priority": 7,
        "when": {"countryIn": ["at", "de"], "sourceIn": [" Newsletter "]},
        "variant": {"id": "dach", "destinationUrl": "https://shop.example.com/dach"},
    }
    body = await gql(
        client,
        UPSERT,
        tenant.auth(),
        h=tenant.handle,
        id="spring-mobile-variant",
        input=replacement,
    )
    assert "errors" not in body, body
    upserted = body["data"]["upsertPersonalizationRule"]
    assert upserted["priority"] == 7 and upserted["enabled"] is True
    assert upserted["when"]["countryIn"] == ["AT", "DE"]
    assert upserted["when"]["sourceIn"] == ["newsletter"]
    assert upserted["createdAt"] == created["createdAt"]
    rest = await client.get(
        rules_url(tenant.handle, "spring-mobile-variant"), headers=tenant.auth()
    )
    assert rest.json()["rule"] == as_rest(upserted)

    body = await gql(client, DELETE, tenant.auth(), h=tenant.handle, id="spring-mobile-variant")
    assert body["data"]["deletePersonalizationRule"] is True
    body = await gql(client, GET, tenant.auth(), h=tenant.handle, id="spring-mobile-variant")
    assert body["errors"][0]["extensions"]["code"] == "rule_not_found"
    body = await gql(client, DELETE, tenant.auth(), h=tenant.handle, id="spring-mobile-variant")
    assert body["errors"][0]["extensions"]["code"] == "rule_not_found"


async def test_graphql_upsert_creates_and_create_conflicts(client, tenant):
    rule = {"variant": {"id": "v", "destinationUrl": "https://example.com/"}}
    body = await gql(client, UPSERT, tenant.auth(), h=tenant.handle, id="fresh", input=rule)
    assert body["data"]["upsertPersonalizationRule"]["ruleId"] == "fresh"
    body = await gql(
        client, CREATE, tenant.auth(), h=tenant.handle, input={**rule, "ruleId": "fresh"}
    )
    assert body["errors"][0]["extensions"]["code"] == "rule_conflict"


@pytest.mark.parametrize(
    ("when", "variant", "code"),
    [
        ({"countryIn": ["XX"]}, None, "invalid_request"),
        ({"campaignIn": ["missing-campaign"]}, None, "campaign_not_found"),
        ({}, {"id": "v", "destinationUrl": "mailto:a@example.com"}, "invalid_destination_url"),
    ],
)
async def test_graphql_validation_errors_carry_codes(client, tenant, when, variant, code):
    rule = {"when": when, "variant": variant or {"id": "v", "destinationUrl": "https://x.io/"}}
    body = await gql(client, CREATE, tenant.auth(), h=tenant.handle, input=rule)
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == code
    assert await list_ids(client, tenant) == []


async def test_graphql_rejects_unknown_device_before_resolving(client, tenant):
    rule = {
        "when": {"deviceIn": ["WATCH"]},
        "variant": {"id": "v", "destinationUrl": "https://x.io/"},
    }
    body = await gql(client, CREATE, tenant.auth(), h=tenant.handle, input=rule)
    assert body["errors"]
    assert await list_ids(client, tenant) == []


async def test_graphql_auth(client, tenant):
    rule = {"variant": {"id": "v", "destinationUrl": "https://example.com/"}}
    body = await gql(client, CREATE, tenant.auth("VIEWER"), h=tenant.handle, input=rule)
    assert body["errors"][0]["extensions"]["code"] == "forbidden"
    body = await gql(client, LIST, tenant.auth(handle=tenant.other_handle), h=tenant.handle)
    assert body["errors"][0]["extensions"]["code"] == "forbidden"
    body = await gql(client, LIST, None, h=tenant.handle)
    assert body["errors"][0]["extensions"]["code"] == "unauthenticated"
    assert await list_ids(client, tenant) == []
