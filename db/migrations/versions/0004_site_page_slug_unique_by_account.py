"""site page slug uniqueness includes the account (Citus-ready)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("site_pages", schema=None) as batch_op:
        batch_op.drop_index("ix_site_pages_handle_slug")
        batch_op.create_index(
            "uq_site_pages_account_handle_slug", ["account_id", "handle", "page_slug"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("site_pages", schema=None) as batch_op:
        batch_op.drop_index("uq_site_pages_account_handle_slug")
        batch_op.create_index("ix_site_pages_handle_slug", ["handle", "page_slug"], unique=True)
