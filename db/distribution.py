"""How each table would be placed on a Citus cluster (see docs/scaling.md).

Distributed tables are sharded by ``account_id``: their primary key and every unique
constraint include it, so each row lives with its tenant. Reference tables are small and
copied to every node. Local tables stay on the coordinator (operational state that is
looked up by a global id).
"""

from __future__ import annotations

DISTRIBUTION_COLUMN = "account_id"

DISTRIBUTED_TABLES = (
    "campaigns",
    "links",
    "personalization_rules",
    "clicks",
    "conversions",
    "rollup_campaign_daily",
    "rollup_campaign_weekly",
    "rollup_breakdown_daily",
    "rollup_breakdown_weekly",
    "rollup_cube_daily",
    "site_pages",
    "site_page_versions",
)
# Event and rollup tables: the ones that grow with traffic.
EVENT_AND_ROLLUP_TABLES = (
    "clicks",
    "conversions",
    "rollup_campaign_daily",
    "rollup_campaign_weekly",
    "rollup_breakdown_daily",
    "rollup_breakdown_weekly",
    "rollup_cube_daily",
)
REFERENCE_TABLES = ("accounts", "handles")
LOCAL_TABLES = (
    "access_tokens",
    "outbox_events",
    "dead_letters",
    "webhook_subscriptions",
    "webhook_deliveries",
    "webhook_attempts",
    "alembic_version",
)


def citus_statements() -> list[str]:
    """The statements that distribute an existing funnelgate database."""
    stmts = [f"SELECT create_reference_table('{t}');" for t in REFERENCE_TABLES]
    first, *rest = DISTRIBUTED_TABLES
    stmts.append(f"SELECT create_distributed_table('{first}', '{DISTRIBUTION_COLUMN}');")
    stmts += [
        f"SELECT create_distributed_table('{t}', '{DISTRIBUTION_COLUMN}', colocate_with => "
        f"'{first}');"
        for t in rest
    ]
    return stmts
