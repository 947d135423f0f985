"""Clicks survive a database outage: journaled, acknowledged, replayed exactly once."""

import shutil
from datetime import date

import httpx
from sqlalchemy import func, select

import app.runtime.ingest as ingest_module
from app.runtime.journal import ClickJournal
from db.tables import Click
from tests.factories import click_record, post_campaign_with_link


def _click(i: int):
    return click_record(i, prefix="c")


async def test_journal_replays_what_it_fsynced_and_skips_a_torn_line(tmp_path):
    journal = ClickJournal(tmp_path)
    journal.append([_click(1), _click(2)])
    journal.rotate()
    (path,) = tmp_path.glob("clicks-*.jsonl")
    with open(path, "a") as f:
        f.write('{"torn":')  # a crash mid-write: never acknowledged
    seen: list[Click] = []

    async def write(chunk):
        seen.extend(chunk)

    assert await ClickJournal(tmp_path).replay(write) == 2
    assert [c.id for c in seen] == [_click(1).id, _click(2).id]
    assert seen[0].occurred_at == _click(1).occurred_at and seen[0].day == date(2026, 1, 2)
    assert not list(tmp_path.glob("clicks-*.jsonl"))


async def test_a_journal_held_by_a_live_process_is_not_replayed(tmp_path):
    writer = ClickJournal(tmp_path)
    writer.append([_click(1)])  # still open and locked
    seen: list[Click] = []

    async def write(chunk):
        seen.extend(chunk)

    other = ClickJournal(tmp_path / ".." / tmp_path.name)
    assert await other.replay(write) == 0 and seen == []
    writer.close()
    assert await other.replay(write) == 1


async def _funnel_clicks(client, tenant, h) -> int:
    r = await client.get(
        f"/v2/handles/{tenant.handle}/analytics?funnel=true&campaignId=outage", headers=h
    )
    return r.json()["funnel"][0]["clicks"]


async def test_redirects_keep_answering_while_the_database_fails_and_count_once_after(
    client, tenant, app, ctx, monkeypatch, settings
):
    h = tenant.auth("ADMIN")
    await post_campaign_with_link(
        client,
        tenant.handle,
        h,
        "outage",
        "out",
        append=True,
        status="ACTIVE",
        expect=None,
        link_expect=None,
    )
    services = app.state.services
    real_write_batch = ingest_module.write_batch

    async def database_down(*args, **kwargs):
        raise OSError("connection refused")

    monkeypatch.setattr(ingest_module, "write_batch", database_down)
    ua = {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0"}
    locations = []
    for _ in range(3):
        r = await client.get(f"/{tenant.handle}/out", headers=ua)
        assert r.status_code == 302
        locations.append(r.headers["location"])
    assert all("fg_click=" in loc for loc in locations)
    ready = (await client.get("/readyz")).json()
    assert ready["ingest"]["degraded"] is True and ready["ingest"]["journalDepth"] == 3
    conversion = await client.post(
        f"/v2/handles/{tenant.handle}/conversions",
        json={"eventType": "purchase", "campaignId": "outage", "eventId": "during-outage"},
        headers=h,
    )
    assert conversion.status_code == 503 and conversion.headers["retry-after"]
    assert conversion.json()["error"] == "unavailable"

    journal_dir = services.ingest.journal.directory
    services.ingest.journal.rotate()
    backup = journal_dir.parent / "journal-copy"
    shutil.copytree(journal_dir, backup)

    monkeypatch.setattr(ingest_module, "write_batch", real_write_batch)
    assert await services.ingest.replay_journal() == 3
    services.ingest.degraded = False
    assert await _funnel_clicks(client, tenant, h) == 3
    # A replay after a crash that left the file behind must not count twice.
    for path in backup.iterdir():
        shutil.copy(path, journal_dir / path.name)
    assert await services.ingest.replay_journal() == 3
    assert await _funnel_clicks(client, tenant, h) == 3
    click_ids = {httpx.URL(loc).params["fg_click"] for loc in locations}
    async with ctx.sessions() as session:
        stored = (
            await session.execute(
                select(func.count()).select_from(Click).where(Click.id.in_(click_ids))
            )
        ).scalar_one()
    assert stored == 3
    assert (await client.get("/readyz")).json()["ingest"]["degraded"] is False
