-- The audit ledger: an append-only RFC 9162 Merkle log. Each entry's leaf is its canonical
-- encoding (RFC 8785 JSON, versioned); leaf_hash = SHA-256(0x00 || leaf). ledger_state holds the
-- tree's right frontier, written in the same transaction as the entries it covers, so a crash
-- leaves neither a gap nor a duplicate. ledger_nodes keeps some interior nodes of the tree, written
-- with the entries that complete them, so proofs need not read every leaf hash. Entries and nodes
-- cannot be updated, deleted or truncated by ordinary roles (privileges and triggers); a superuser
-- can still, which is what signed checkpoints held outside this database (witnesses) are for.

CREATE TABLE IF NOT EXISTS helios.ledger_entries (
  id          bigint PRIMARY KEY CHECK (id >= 0),
  kind        text NOT NULL CHECK (kind IN ('statements', 'row', 'action')),
  leaf        bytea NOT NULL,
  leaf_hash   bytea NOT NULL CHECK (length(leaf_hash) = 32),
  appended_at timestamptz NOT NULL DEFAULT now()
);
-- A leaf of one interval's statements runs to hundreds of kB; compressing it (pglz) cost the
-- database more CPU than recording the statements did. Out of line, uncompressed; substring()
-- of the position header reads only the first chunk.
ALTER TABLE helios.ledger_entries ALTER COLUMN leaf SET STORAGE EXTERNAL;

CREATE TABLE IF NOT EXISTS helios.ledger_state (
  log        text PRIMARY KEY,
  size       bigint NOT NULL CHECK (size >= 0),
  -- MerkleFrontier JSON (src/ledger/merkle/frontier.ts): the perfect-subtree roots covering [0, size).
  frontier   jsonb NOT NULL,
  root       bytea NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- Roots of perfect subtrees: hash = MTH(D[start:start + 2^level]) (RFC 9162 §2.1.1), start a
-- multiple of 2^level. Only levels that are multiples of 8 are kept (NODE_LEVEL_STEP in
-- src/ledger/store.ts: subtrees of 256, 65,536, 2^24 … leaves), about one row per 255 entries,
-- from which any perfect subtree of 256 leaves or more folds from at most 128 rows. Derived data:
-- proofs fall back to the leaf hashes where a node is missing, and a wrong node cannot forge a
-- proof, only make one fail against the signed root.
CREATE TABLE IF NOT EXISTS helios.ledger_nodes (
  level  smallint NOT NULL CHECK (level >= 0 AND level <= 62),
  start  bigint NOT NULL CHECK (start >= 0 AND start % (1::bigint << level) = 0),
  hash   bytea NOT NULL CHECK (length(hash) = 32),
  PRIMARY KEY (level, start)
);

CREATE OR REPLACE FUNCTION helios.ledger_refuse_change() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = format('helios.%s is append-only: %s is not allowed', TG_TABLE_NAME, lower(TG_OP));
END
$$;

-- Entries and nodes alike: no UPDATE, DELETE or TRUNCATE, by trigger (the owner too) and by privilege.
DO $$
DECLARE
  t text;
BEGIN
  FOREACH t IN ARRAY ARRAY['ledger_entries', 'ledger_nodes'] LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON helios.%I', t || '_append_only', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE OR DELETE ON helios.%I FOR EACH ROW EXECUTE FUNCTION helios.ledger_refuse_change()', t || '_append_only', t);
    EXECUTE format('DROP TRIGGER IF EXISTS %I ON helios.%I', t || '_no_truncate', t);
    EXECUTE format('CREATE TRIGGER %I BEFORE TRUNCATE ON helios.%I FOR EACH STATEMENT EXECUTE FUNCTION helios.ledger_refuse_change()', t || '_no_truncate', t);
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON helios.%I FROM PUBLIC', t);
  END LOOP;
END
$$;

-- helios.verify_ledger(): the checks of verifyLocal (src/ledger/store.ts) inside the server, so an
-- auditor with only SQL access can run them. In id order, each leaf is rehashed
-- (RFC 9162 §2.1.1: leaf hash = SHA-256(0x00 || leaf)); ids must be dense from 0; a leaf's bytes
-- 2..9 (big-endian u64, src/ledger/leaf.ts) must equal its id; the rehash must equal the stored
-- leaf_hash. The RFC 9162 root is folded with the right frontier: a stack of perfect-subtree roots
-- where appending leaf n merges once per trailing 1-bit of n (node = SHA-256(0x01 || left || right)),
-- and MTH(D[n]) folds the stack right to left. The root must equal helios.ledger_state.root; when it
-- does not and the stored frontier has the same size, the first differing perfect subtree is named.
-- first_bad and reason are those verifyLocal reports. Memory is O(log n); time is one pass.
-- ledger_nodes is not checked here: it is derived data, which verifyLocal reports apart.
CREATE OR REPLACE FUNCTION helios.verify_ledger()
RETURNS TABLE (ok boolean, entries bigint, first_bad bigint, reason text, computed_root bytea, state_root bytea)
LANGUAGE plpgsql STABLE
AS $$
DECLARE
  r          record;
  n          bigint := 0;
  h          bytea;
  stack      bytea[] := '{}';
  k          int;
  s          bigint;
  pos        bigint;
  bad        bigint;
  why        text;
  st_size    bigint;
  st_root    bytea;
  st_front   jsonb;
  root       bytea;
  i          int;
  lo         bigint;
  span       bigint;
BEGIN
  SELECT ls.size, ls.root, ls.frontier INTO st_size, st_root, st_front FROM helios.ledger_state ls WHERE ls.log = 'helios';
  IF NOT FOUND THEN
    st_size := 0;
    st_root := sha256(''::bytea);
    st_front := NULL;
  END IF;

  FOR r IN SELECT e.id, e.leaf, e.leaf_hash FROM helios.ledger_entries e ORDER BY e.id LOOP
    h := sha256('\x00'::bytea || r.leaf);
    IF bad IS NULL THEN
      IF r.id <> n THEN
        bad := n;
        why := CASE WHEN r.id > n THEN format('entry %s is missing (next stored id is %s)', n, r.id)
                    ELSE format('entry %s is out of place', r.id) END;
      ELSE
        pos := CASE WHEN length(r.leaf) >= 9 AND get_byte(r.leaf, 0) = 1
                    THEN ('x' || encode(substring(r.leaf from 2 for 8), 'hex'))::bit(64)::bigint END;
        IF pos IS NULL OR pos < 0 OR pos > 9007199254740991 THEN
          bad := r.id;
          why := format('the entry stored at %s says it belongs at no position (not a leaf) (entries were moved or replaced)', r.id);
        ELSIF pos <> r.id THEN
          bad := r.id;
          why := format('the entry stored at %s says it belongs at %s (entries were moved or replaced)', r.id, pos);
        ELSIF h <> r.leaf_hash THEN
          bad := r.id;
          why := format('entry %s: its leaf does not hash to its stored leaf_hash (the entry was changed)', r.id);
        END IF;
      END IF;
    END IF;
    -- Frontier append: each trailing 1-bit of n is a perfect subtree the size of h's; merge.
    s := n;
    k := coalesce(array_length(stack, 1), 0);
    WHILE s % 2 = 1 LOOP
      h := sha256('\x01'::bytea || stack[k] || h);
      stack := stack[1:k - 1];
      k := k - 1;
      s := s / 2;
    END LOOP;
    stack := array_append(stack, h);
    n := n + 1;
  END LOOP;

  k := coalesce(array_length(stack, 1), 0);
  IF k = 0 THEN
    root := sha256(''::bytea);
  ELSE
    root := stack[k];
    FOR i IN REVERSE k - 1 .. 1 LOOP
      root := sha256('\x01'::bytea || stack[i] || root);
    END LOOP;
  END IF;

  IF bad IS NULL AND n <> st_size THEN
    bad := least(n, st_size);
    why := format('the log state says %s entries, %s are stored', st_size, n);
  END IF;
  IF bad IS NULL AND root <> st_root THEN
    -- The stored frontier's subtrees are the set bits of its size, largest first.
    IF st_front IS NOT NULL AND (st_front->>'size')::bigint = n AND jsonb_array_length(st_front->'hashes') = k THEN
      lo := 0;
      i := 1;
      span := 1;
      WHILE span * 2 <= n LOOP span := span * 2; END LOOP;
      WHILE span >= 1 AND i <= k LOOP
        IF (n / span) % 2 = 1 THEN
          IF st_front->'hashes'->>(i - 1) IS DISTINCT FROM encode(stack[i], 'hex') THEN
            bad := lo;
            why := format('entries %s to %s no longer hash to the stored tree (one was changed with its leaf hash recomputed)', lo, lo + span - 1);
            EXIT;
          END IF;
          lo := lo + span;
          i := i + 1;
        END IF;
        span := span / 2;
      END LOOP;
    END IF;
    IF bad IS NULL THEN
      bad := 0;
      why := 'the root recomputed from the stored leaves differs from the stored state root';
    END IF;
  END IF;

  ok := bad IS NULL;
  entries := n;
  first_bad := bad;
  reason := why;
  computed_root := root;
  state_root := st_root;
  RETURN NEXT;
END
$$;
