"""The database itself refuses to change or delete ledger entries and transactions."""

from django.db import migrations

POSTGRES_UP = """
CREATE OR REPLACE FUNCTION rewards_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER rewards_entry_append_only BEFORE UPDATE OR DELETE ON rewards_entry
    FOR EACH ROW EXECUTE FUNCTION rewards_refuse_change();
CREATE TRIGGER rewards_transaction_append_only BEFORE UPDATE OR DELETE ON rewards_transaction
    FOR EACH ROW EXECUTE FUNCTION rewards_refuse_change();
"""
POSTGRES_DOWN = """
DROP TRIGGER IF EXISTS rewards_entry_append_only ON rewards_entry;
DROP TRIGGER IF EXISTS rewards_transaction_append_only ON rewards_transaction;
DROP FUNCTION IF EXISTS rewards_refuse_change();
"""
SQLITE_UP = [
    f"CREATE TRIGGER rewards_{table}_no_{op.lower()} BEFORE {op} ON rewards_{table} "
    f"BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END;"
    for table in ("entry", "transaction")
    for op in ("UPDATE", "DELETE")
]
SQLITE_DOWN = [
    f"DROP TRIGGER IF EXISTS rewards_{table}_no_{op.lower()};"
    for table in ("entry", "transaction")
    for op in ("UPDATE", "DELETE")
]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_UP, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_UP:
            schema_editor.execute(statement)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_DOWN, params=None)
    elif schema_editor.connection.vendor == "sqlite":
        for statement in SQLITE_DOWN:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("rewards", "0001_initial")]
    operations = [migrations.RunPython(forwards, backwards)]
