"""rollup_breakdown_daily: key ordered for dashboards, count carried in the key's index

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NEW_KEY = [
    "account_id",
    "handle",
    "kind",
    "dimension",
    "campaign_id",
    "day",
    "value",
    "event_type",
    "currency",
    "is_test",
]
OLD_KEY = [
    "account_id",
    "handle",
    "kind",
    "campaign_id",
    "day",
    "dimension",
    "value",
    "event_type",
    "currency",
    "is_test",
]


def _replace_key(columns: list[str], include: list[str] | None) -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint("pk_rollup_breakdown_daily", "rollup_breakdown_daily", type_="primary")
        # Alembic's create_primary_key has no INCLUDE: PostgreSQL 11+ DDL, written out.
        included = f" INCLUDE ({', '.join(include)})" if include else ""
        op.execute(
            "ALTER TABLE rollup_breakdown_daily ADD CONSTRAINT pk_rollup_breakdown_daily "
            f"PRIMARY KEY ({', '.join(columns)}){included}"
        )
        return
    with op.batch_alter_table("rollup_breakdown_daily", recreate="always") as batch_op:
        batch_op.drop_constraint("pk_rollup_breakdown_daily", type_="primary")
        batch_op.create_primary_key("pk_rollup_breakdown_daily", columns)


def upgrade() -> None:
    _replace_key(NEW_KEY, ["count"])


def downgrade() -> None:
    _replace_key(OLD_KEY, None)
