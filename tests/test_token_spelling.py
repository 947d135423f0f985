"""One JWT has one spelling: padded or bit-twiddled variants of a valid token are refused,
and they count against the token's own rate-limit bucket, not a fresh one."""

from __future__ import annotations

import string

import pytest

from tests.conftest import gql
from tests.inprocess import serving

_B64URL = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _sibling_last_char(token: str) -> str:
    """The same signature bytes, spelled with the unused low bit of the last character set."""
    last = token[-1]
    return token[:-1] + _B64URL[_B64URL.index(last) ^ 1]


_COUNT = "query($h: String!) { campaigns(handle: $h) { totalCount } }"
RESPELLINGS = {
    "padded": lambda t: t + "=",
    "double-padded": lambda t: t + "==",
    "unused-bits": _sibling_last_char,
    "padded-payload": lambda t: t.replace(".", "=.", 1),
}


def test_canonical_jwt_is_the_unpadded_base64url_spelling(tenant):
    from resolvers.auth import canonical_jwt

    token = tenant.jwt("ADMIN")
    assert canonical_jwt(token) == token
    for respell in RESPELLINGS.values():
        assert canonical_jwt(respell(token)) != respell(token)
    assert canonical_jwt(token + "=") == token
    assert canonical_jwt(_sibling_last_char(token)) == token
    assert canonical_jwt("not-a-token") is None


@pytest.mark.parametrize("spelling", RESPELLINGS)
async def test_a_respelled_jwt_is_unauthenticated(client, tenant, spelling):
    token = tenant.jwt("ADMIN")
    url = f"/v2/handles/{tenant.handle}/campaigns"
    assert (await client.get(url, headers={"Authorization": f"Bearer {token}"})).status_code == 200
    other = RESPELLINGS[spelling](token)
    response = await client.get(url, headers={"Authorization": f"Bearer {other}"})
    assert response.status_code == 401, response.text
    assert response.json()["error"] == "unauthenticated"
    valid = await gql(client, _COUNT, {"Authorization": f"Bearer {token}"}, h=tenant.handle)
    assert valid["data"]["campaigns"]["totalCount"] == 0, valid
    body = await gql(
        client,
        _COUNT,
        {"Authorization": f"Bearer {other}"},
        h=tenant.handle,
    )
    assert body["errors"][0]["extensions"]["code"] == "unauthenticated", body


async def test_a_respelled_jwt_shares_the_tokens_rate_limit_bucket(settings, tenant):
    token = tenant.jwt("ADMIN")
    url = f"/v2/handles/{tenant.handle}/campaigns"
    async with serving(settings, rate_limit_api="3/minute") as http:
        for _ in range(3):
            ok = await http.get(url, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200, ok.text
        for respell in RESPELLINGS.values():
            spelled = await http.get(url, headers={"Authorization": f"Bearer {respell(token)}"})
            assert spelled.status_code == 429, spelled.text
