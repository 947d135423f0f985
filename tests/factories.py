"""Small builders shared by tests."""

from datetime import UTC, date, datetime

from db.tables import ClickRecord


def click_record(i: int, prefix: str = "c") -> ClickRecord:
    """A click of a fixed campaign and day; ``prefix`` keeps ids apart between tests."""
    return ClickRecord(
        account_id="a" * 24,
        id=f"{prefix}{i:023d}",
        handle="h",
        slug="s",
        campaign_id="cmp",
        occurred_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        day=date(2026, 1, 2),
        visitor_id="v",
        country="US",
        device="mobile",
        source="google",
        medium="",
        is_bot=False,
        segment="default",
        destination_url="https://x.example",
    )
