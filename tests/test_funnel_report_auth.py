"""/v1/funnel answers 401 exactly as seed 000 documents it, before looking at parameters."""

import pytest


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-jwt"}, {"Authorization": "Basic abc"}],
    ids=["no-token", "bad-token", "wrong-scheme"],
)
async def test_unauthenticated_funnel_report_is_the_seed_401_even_with_bad_params(client, headers):
    for query in ("", "?report_type=Nope", "?account_id=x&report_type=Source&date_range=today"):
        response = await client.get(f"/v1/funnel{query}", headers=headers)
        assert response.status_code == 401
        assert response.json() == {"status": "error", "message": "Unauthenticated"}
