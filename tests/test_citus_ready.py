"""The schema can be distributed by account: checked from the table metadata."""

from sqlalchemy import Index, UniqueConstraint

from db.distribution import (
    DISTRIBUTED_TABLES,
    DISTRIBUTION_COLUMN,
    EVENT_AND_ROLLUP_TABLES,
    LOCAL_TABLES,
    REFERENCE_TABLES,
    citus_statements,
)
from db.tables import metadata


def test_every_table_has_exactly_one_placement():
    placed = [*DISTRIBUTED_TABLES, *REFERENCE_TABLES, *LOCAL_TABLES]
    assert len(placed) == len(set(placed))
    assert set(metadata.tables) <= set(placed)
    assert set(EVENT_AND_ROLLUP_TABLES) <= set(DISTRIBUTED_TABLES)


def test_every_tenant_table_carries_the_account():
    for name, table in metadata.tables.items():
        if name in ("accounts", "alembic_version"):
            continue
        assert DISTRIBUTION_COLUMN in table.c, f"{name} lacks {DISTRIBUTION_COLUMN}"


def test_distributed_keys_and_unique_constraints_include_the_account():
    for name in DISTRIBUTED_TABLES:
        table = metadata.tables[name]
        pk = {c.name for c in table.primary_key.columns}
        assert DISTRIBUTION_COLUMN in pk, f"primary key of {name} lacks the account"
        uniques = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
        uniques += [i for i in table.indexes if isinstance(i, Index) and i.unique]
        for unique in uniques:
            cols = {c.name for c in unique.columns}
            assert DISTRIBUTION_COLUMN in cols, f"unique {unique.name} of {name} lacks it"
        for column in table.c:
            if column.unique:
                raise AssertionError(f"{name}.{column.name} is unique without the account")


def test_distributed_foreign_keys_point_at_reference_or_colocated_tables():
    for name in DISTRIBUTED_TABLES:
        for fk in metadata.tables[name].foreign_keys:
            target = fk.column.table.name
            if target in REFERENCE_TABLES:
                continue
            assert target in DISTRIBUTED_TABLES
            local = {e.parent.name for e in fk.constraint.elements}
            assert DISTRIBUTION_COLUMN in local, f"{name} → {target} is not co-located"


def test_citus_statements_cover_every_placed_table():
    text = "\n".join(citus_statements())
    for name in (*DISTRIBUTED_TABLES, *REFERENCE_TABLES):
        assert f"'{name}'" in text
