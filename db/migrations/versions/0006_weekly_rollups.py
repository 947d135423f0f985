"""rollup_campaign_weekly and rollup_breakdown_weekly: rollups per 7-day block (blocks
from Monday, phase 0, and from Thursday, phase 3), filled from the day rows

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

PHASES = (0, 3)
CAMPAIGN_KEY = [
    "account_id",
    "handle",
    "campaign_id",
    "phase",
    "week",
    "kind",
    "event_type",
    "currency",
    "is_test",
]
BREAKDOWN_KEY = [
    "account_id",
    "handle",
    "kind",
    "dimension",
    "campaign_id",
    "phase",
    "week",
    "value",
    "event_type",
    "currency",
    "is_test",
]
LENGTHS = {
    "account_id": 24,
    "handle": 64,
    "campaign_id": 64,
    "kind": 8,
    "dimension": 16,
    "value": 128,
    "event_type": 64,
    "currency": 3,
}


def _key_column(name: str) -> sa.Column[Any]:
    if name == "week":
        return sa.Column(name, sa.Date(), nullable=False)
    if name == "phase":
        return sa.Column(name, sa.SmallInteger(), nullable=False)
    if name == "is_test":
        return sa.Column(name, sa.Boolean(), nullable=False)
    return sa.Column(name, sa.String(length=LENGTHS[name]), nullable=False)


def _fill(table: str, key: list[str], measures: dict[str, str]) -> None:
    """Sum the day rows into each phase's blocks (a block starts on weekday ``phase``,
    Monday = 0)."""
    postgresql = op.get_bind().dialect.name == "postgresql"
    for phase in PHASES:
        if postgresql:
            week = f"(day - (CAST(extract(isodow FROM day) AS integer) + {6 - phase}) % 7)"
        else:  # %w is 0 for Sunday
            back = f"(CAST(strftime('%w', day) AS integer) + {6 - phase}) % 7"
            week = f"date(day, '-' || ({back}) || ' days')"
        source = {"phase": f"CAST({phase} AS SMALLINT)", "week": week}
        grouped = ", ".join(source.get(c, c) for c in key)
        sums = ", ".join(f"{agg}({m})" for m, agg in measures.items())
        daily = table.replace("_weekly", "_daily")
        op.execute(
            f"INSERT INTO {table} ({', '.join(key)}, {', '.join(measures)}) "
            f"SELECT {grouped}, {sums} FROM {daily} GROUP BY {grouped}"
        )


def upgrade() -> None:
    op.create_table(
        "rollup_campaign_weekly",
        *[_key_column(c) for c in CAMPAIGN_KEY],
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.Column("attributed", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(*CAMPAIGN_KEY, name="pk_rollup_campaign_weekly"),
    )
    op.create_table(
        "rollup_breakdown_weekly",
        *[_key_column(c) for c in BREAKDOWN_KEY],
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("value_micros", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            *BREAKDOWN_KEY, name="pk_rollup_breakdown_weekly", postgresql_include=["count"]
        ),
    )
    _fill(
        "rollup_campaign_weekly",
        CAMPAIGN_KEY,
        {"count": "sum", "value_micros": "sum", "attributed": "sum", "last_seen_at": "max"},
    )
    _fill("rollup_breakdown_weekly", BREAKDOWN_KEY, {"count": "sum", "value_micros": "sum"})


def downgrade() -> None:
    op.drop_table("rollup_breakdown_weekly")
    op.drop_table("rollup_campaign_weekly")
