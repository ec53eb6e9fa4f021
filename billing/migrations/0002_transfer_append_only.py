"""Ledger rows are append-only: on PostgreSQL a trigger refuses UPDATE and DELETE (L4).

TRUNCATE (used by test database flushes) does not fire row triggers. SQLite, the embedded
development database, gets the UPDATE guard only, so test flushes keep working there.
"""

from django.db import migrations

PG_CREATE = """
CREATE OR REPLACE FUNCTION billing_transfer_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'billing_transfer is append-only: % refused', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER billing_transfer_append_only
    BEFORE UPDATE OR DELETE ON billing_transfer
    FOR EACH ROW EXECUTE FUNCTION billing_transfer_append_only();
"""
PG_DROP = """
DROP TRIGGER IF EXISTS billing_transfer_append_only ON billing_transfer;
DROP FUNCTION IF EXISTS billing_transfer_append_only();
"""
SQLITE_CREATE = """
CREATE TRIGGER billing_transfer_no_update BEFORE UPDATE ON billing_transfer
BEGIN SELECT RAISE(ABORT, 'billing_transfer is append-only: UPDATE refused'); END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS billing_transfer_no_update;"


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_CREATE, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_DROP, params=None)
    elif vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
