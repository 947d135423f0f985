"""One tenant's unstorable event never fails another's: batches split, bad events stand alone.

These tests go past the edge checks on purpose (events built without validation, journal
lines written by hand): they protect the last line of defence, the group-commit writer, for
whatever value a future check forgets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select

from app.runtime.journal import ClickJournal
from db.tables import Click, Conversion, DeadLetter
from resolvers.accounts import account_for_handle
from resolvers.conversions import ConversionInput
from resolvers.errors import InvalidInput
from tests.factories import click_record, make_campaign

SURROGATE = "\ud800"


def _poisoned_values(backend: str) -> list[str]:
    # A lone surrogate cannot be encoded for either database; PostgreSQL also refuses NUL.
    return [SURROGATE, "\x00"] if backend == "postgresql" else [SURROGATE]


async def _count(ctx: Any, model: Any, *where: Any) -> int:
    async with ctx.sessions() as session:
        query = select(func.count()).select_from(model)
        for condition in where:
            query = query.where(condition)
        return int((await session.execute(query)).scalar_one())


@pytest.fixture
def linger(settings: Any) -> Any:
    # Jobs submitted together share one batch: the poison and the innocent commit together.
    settings.ingest_batch_wait_ms = 50
    return settings


async def test_a_poisoned_click_is_set_aside_and_its_batch_commits(
    linger, app, client, ctx, tenant, backend
):
    ingest = app.state.services.ingest
    prefix = tenant.account_id[:6]
    good = [
        dataclasses.replace(click_record(i, prefix), account_id=tenant.account_id)
        for i in range(20)
    ]
    bad = [
        dataclasses.replace(
            click_record(100 + i, prefix), account_id=tenant.account_id, source="x" + poison
        )
        for i, poison in enumerate(_poisoned_values(backend))
    ]
    outcomes = await asyncio.gather(
        *(ingest.record(c) for c in good[:10] + bad + good[10:]), return_exceptions=True
    )

    refused = [o for o in outcomes if isinstance(o, BaseException)]
    assert len(refused) == len(bad) and all(isinstance(o, InvalidInput) for o in refused)
    assert await _count(ctx, Click, Click.account_id == tenant.account_id) == len(good)
    letters = await _count(ctx, DeadLetter, DeadLetter.account_id == tenant.account_id)
    assert letters == len(bad)
    assert not ingest.degraded and ingest.journal_depth == 0

    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ok"
    assert ready.json()["ingest"]["deadLetters"] >= len(bad)
    metrics = (await client.get("/metrics")).text
    assert 'funnelgate_ingest_dead_letters_total{kind="click"}' in metrics

    # Ingest goes on for everyone: another click and a conversion commit at once.
    await ingest.record(
        dataclasses.replace(click_record(500, prefix), account_id=tenant.account_id)
    )
    assert await _count(ctx, Click, Click.account_id == tenant.account_id) == len(good) + 1


async def test_an_unstorable_conversion_fails_only_its_own_event(
    linger, app, client, ctx, tenant, backend
):
    """Tenant B's events that pass no database check run beside tenant A's valid ones."""
    await make_campaign(client, tenant, "good-one", role="ADMIN", status="ACTIVE")
    await make_campaign(
        client, tenant, "bad-one", role="ADMIN", handle=tenant.other_handle, status="ACTIVE"
    )
    ingest = app.state.services.ingest
    async with ctx.sessions() as session:
        account_a = await account_for_handle(session, tenant.handle)
        account_b = await account_for_handle(session, tenant.other_handle)

    def event(event_id: str, campaign: str, **changes: Any) -> ConversionInput:
        fields = {
            "eventType": "purchase",
            "eventId": event_id,
            "clickId": None,
            "campaignId": campaign,
            "value": 5.0,
            "currency": "USD",
            "metadata": {},
            "occurredAt": None,
        } | changes
        return ConversionInput.model_construct(**fields)  # no validation: past the edge

    overflowing = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=14)))
    poisons = [{"occurredAt": overflowing}, {"eventType": "purchase" + SURROGATE}]
    if backend == "postgresql":
        poisons.append({"eventType": "purchase\x00"})
    jobs_a = [
        ingest.record_conversions(account_a, tenant.handle, [event(f"a-{i}", "good-one")])
        for i in range(10)
    ]
    jobs_b = [
        ingest.record_conversions(account_b, tenant.other_handle, [event(f"b-{i}", "bad-one", **p)])
        for i, p in enumerate(poisons)
    ]
    # One request of B mixing good and bad events: only the bad ones are rejected.
    mixed = [
        event("m-0", "bad-one"),
        event("m-1", "bad-one", **poisons[0]),
        event("m-2", "bad-one"),
    ]
    jobs_b.append(ingest.record_conversions(account_b, tenant.other_handle, mixed))
    outcomes = await asyncio.gather(*jobs_a, *jobs_b, return_exceptions=True)

    results_a, single_b, mixed_b = outcomes[:10], outcomes[10:-1], outcomes[-1]
    assert all(not isinstance(r, BaseException) and r[0].status == "created" for r in results_a)
    assert all(isinstance(r, InvalidInput) for r in single_b), single_b
    assert [r.status for r in mixed_b] == ["created", "rejected", "created"]
    assert [r.index for r in mixed_b] == [0, 1, 2]
    assert mixed_b[1].code == "invalid_request" and mixed_b[1].event_id == "m-1"
    assert await _count(ctx, Conversion, Conversion.handle == tenant.handle) == 10
    assert await _count(ctx, Conversion, Conversion.handle == tenant.other_handle) == 2
    assert not ingest.degraded

    # The funnels count exactly what committed.
    response = await client.get(
        f"/v2/handles/{tenant.handle}/analytics?funnel=true&campaignId=good-one",
        headers=tenant.auth("CREATOR"),
    )
    assert response.status_code == 200
    funnel = response.json()["funnel"]
    funnel = funnel[0] if isinstance(funnel, list) else funnel
    assert funnel["conversions"] == 10


async def test_replay_sets_aside_what_the_database_refuses_and_drains_the_rest(
    app, ctx, tenant, backend, tmp_path
):
    ingest = app.state.services.ingest
    prefix = "r" + tenant.account_id[:5]
    good = [
        dataclasses.replace(click_record(i, prefix), account_id=tenant.account_id) for i in range(7)
    ]
    bad = [
        dataclasses.replace(
            click_record(50 + i, prefix), account_id=tenant.account_id, medium=poison
        )
        for i, poison in enumerate(_poisoned_values(backend))
    ]
    orphan = ClickJournal(ingest.journal.directory)
    orphan.append(good[:3] + bad + good[3:])
    with open(orphan._path, "a", encoding="utf-8") as f:  # noqa: SLF001 - a corrupt record
        f.write(json.dumps({"id": "no-such-fields"}) + "\n")
    orphan.close()  # an orphaned file, as a stopped process leaves it

    replayed = await ingest.replay_journal()
    assert replayed == len(good)
    assert await _count(ctx, Click, Click.account_id == tenant.account_id) == len(good)
    assert await _count(ctx, DeadLetter, DeadLetter.account_id == tenant.account_id) == len(bad)
    async with ctx.sessions() as session:
        kinds = (await session.execute(select(DeadLetter.kind, DeadLetter.payload))).all()
    assert any(kind == "journal_line" and "no-such-fields" in payload for kind, payload in kinds)
    assert not ingest.journal.has_files() and ingest.journal_depth == 0
    # Nothing is left to retry: a second replay finds nothing.
    assert await ingest.replay_journal() == 0


def test_dead_letters_keep_any_text_storable():
    from db.dead_letters import click_letter

    click = dataclasses.replace(click_record(1), source="\x00" + SURROGATE, medium="é")
    letter = click_letter(click, ValueError("bad \x00 value"))
    assert letter["payload"].isascii() and "\x00" not in letter["error"]
    assert json.loads(letter["payload"])["source"] == "\x00" + SURROGATE
    assert letter["created_at"].tzinfo is UTC
