-- The audit ledger: an append-only RFC 9162 Merkle log. Each entry's leaf is its canonical
-- encoding (RFC 8785 JSON, versioned); leaf_hash = SHA-256(0x00 || leaf). ledger_state holds the
-- tree's right frontier, written in the same transaction as the entries it covers, so a crash
-- leaves neither a gap nor a duplicate. Entries cannot be updated, deleted or truncated by
-- ordinary roles (privileges and triggers); a superuser can still, which is what signed
-- checkpoints held outside this database (witnesses) are for.

CREATE TABLE IF NOT EXISTS helios.ledger_entries (
  id          bigint PRIMARY KEY CHECK (id >= 0),
  kind        text NOT NULL CHECK (kind IN ('statement', 'row', 'action')),
  leaf        bytea NOT NULL,
  leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),
  appended_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS helios.ledger_state (
  log        text PRIMARY KEY,
  size       bigint NOT NULL CHECK (size >= 0),
  -- MerkleFrontier JSON (src/ledger/merkle/frontier.ts): the perfect-subtree roots covering [0, size).
  frontier   jsonb NOT NULL,
  root       bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION helios.ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = format('helios.%s is append-only: %s is not allowed', TG_TABLE_NAME, lower(TG_OP));
END
$$;

DROP TRIGGER IF EXISTS ledger_entries_append_only ON helios.ledger_entries;
CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON helios.ledger_entries
  FOR EACH ROW EXECUTE FUNCTION helios.ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_entries_no_truncate ON helios.ledger_entries;
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON helios.ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION helios.ledger_refuse_change();

REVOKE UPDATE, DELETE, TRUNCATE ON helios.ledger_entries FROM PUBLIC;
