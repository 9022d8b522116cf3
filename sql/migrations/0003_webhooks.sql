-- Change data capture and webhooks. The sidecar reads committed changes from a logical
-- replication slot; in one transaction it stores the events matched to each webhook in the
-- outbox and moves the slot's checkpoint, and only then confirms the slot up to that checkpoint.
-- Delivery workers (any number, in any sidecar on this database) claim outbox rows with
-- FOR UPDATE SKIP LOCKED. Webhooks are managed with the functions below from any SQL client;
-- sidecars hear about changes through NOTIFY helios_webhooks.

-- One row per replication slot this database's sidecars consume. checkpoint_lsn is the commit
-- end LSN of the last transaction whose events were durably stored: the slot is never confirmed
-- past it, and after a restart transactions at or before it are skipped.
CREATE TABLE IF NOT EXISTS helios.cdc_slots (
  slot_name      text PRIMARY KEY,
  publication    text NOT NULL,
  checkpoint_lsn pg_lsn NOT NULL,
  transactions   bigint NOT NULL DEFAULT 0,
  events         bigint NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT now(),
  updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS helios.webhooks (
  name            text PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$'),
  url             text NOT NULL CHECK (url ~* '^https?://[^/?#@\s]+' AND length(url) <= 2048),
  -- schema.table names; empty = every table of the publication.
  tables          text[] NOT NULL DEFAULT '{}',
  operations      text[] NOT NULL DEFAULT '{insert,update,delete}'
                  CHECK (operations <@ ARRAY['insert', 'update', 'delete', 'truncate', 'read'] AND cardinality(operations) > 0),
  -- A SQL boolean expression over new.<column> and old.<column>; null = every change.
  condition       text CHECK (condition IS NULL OR length(condition) <= 4000),
  -- Standard Webhooks secrets (whsec_...). Every secret listed signs: two during a rotation.
  secrets         text[] NOT NULL CHECK (cardinality(secrets) BETWEEN 1 AND 2),
  -- Events per request; 1 sends each event as its own request.
  batch_size      integer NOT NULL DEFAULT 1 CHECK (batch_size BETWEEN 1 AND 1000),
  -- Requests per second to this endpoint; null = no limit.
  rate_limit      double precision CHECK (rate_limit IS NULL OR rate_limit > 0),
  max_attempts    integer NOT NULL DEFAULT 8 CHECK (max_attempts BETWEEN 1 AND 100),
  max_age         interval NOT NULL DEFAULT '3 days' CHECK (max_age > '0'::interval),
  -- active, paused by a user, or disabled by HeliosDB (an endpoint that kept failing, or an invalid definition).
  state           text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'paused', 'disabled')),
  state_reason    text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Events waiting for delivery, delivered (kept for replay until pruned) or dead-lettered.
-- body is the exact request body, so a retry sends the same bytes under the same webhook-id.
CREATE TABLE IF NOT EXISTS helios.webhook_outbox (
  seq             bigserial PRIMARY KEY,
  webhook         text NOT NULL REFERENCES helios.webhooks (name) ON DELETE CASCADE,
  event_id        text NOT NULL,
  -- Replays of an event get a new generation; deliveries of one generation share an id and body.
  generation      integer NOT NULL DEFAULT 0,
  row_key         text NOT NULL,
  lsn             pg_lsn NOT NULL,
  commit_time     timestamptz NOT NULL,
  body            text NOT NULL,
  -- pending: waiting (or backing off until next_attempt_at); inflight: claimed by a worker until
  -- lease_until (a crashed worker's rows go back to pending when it passes); delivered; dead.
  state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'inflight', 'delivered', 'dead')),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  lease_until     timestamptz,
  -- The claim a worker holds it under: only that claim may settle it.
  claim_token     bigint,
  last_status     integer,
  last_error      text,
  created_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz,
  UNIQUE (webhook, event_id, generation)
);
-- Claiming: rows due, in order; claimed and backed-off rows are not in the way.
CREATE INDEX IF NOT EXISTS webhook_outbox_due ON helios.webhook_outbox (webhook, next_attempt_at, seq) WHERE state = 'pending';
-- Per-row ordering: is an earlier change of this row still undelivered?
CREATE INDEX IF NOT EXISTS webhook_outbox_open_key ON helios.webhook_outbox (webhook, row_key, seq) WHERE state IN ('pending', 'inflight');
-- Expired leases.
CREATE INDEX IF NOT EXISTS webhook_outbox_leases ON helios.webhook_outbox (lease_until) WHERE state = 'inflight';
-- Replay by LSN or time, and pruning.
CREATE INDEX IF NOT EXISTS webhook_outbox_webhook_lsn ON helios.webhook_outbox (webhook, lsn);
CREATE INDEX IF NOT EXISTS webhook_outbox_created ON helios.webhook_outbox (created_at) WHERE state = 'delivered';

-- Backfills: the existing rows of a table sent as "read" events, in primary-key order.
CREATE TABLE IF NOT EXISTS helios.webhook_backfills (
  id          bigserial PRIMARY KEY,
  webhook     text NOT NULL REFERENCES helios.webhooks (name) ON DELETE CASCADE,
  table_name  text NOT NULL,
  state       text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'failed', 'cancelled')),
  -- The last key sent (JSON array of the primary key's values), so a restart resumes after it.
  last_key    jsonb,
  rows_done   bigint NOT NULL DEFAULT 0,
  rows_total  bigint,
  error       text,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now(),
  finished_at timestamptz
);

CREATE OR REPLACE FUNCTION helios.generate_webhook_secret() RETURNS text
LANGUAGE sql VOLATILE
-- gen_random_uuid() draws from the server's strong random source: two give 244 random bits.
AS $$ SELECT 'whsec_' || encode(decode(replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''), 'hex'), 'base64') $$;

CREATE OR REPLACE FUNCTION helios.create_webhook(
  name text,
  url text,
  tables text[] DEFAULT '{}',
  operations text[] DEFAULT '{insert,update,delete}',
  condition text DEFAULT NULL,
  secret text DEFAULT NULL,
  batch_size integer DEFAULT 1,
  rate_limit double precision DEFAULT NULL,
  max_attempts integer DEFAULT 8
) RETURNS TABLE (webhook text, signing_secret text)
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  s text := coalesce(create_webhook.secret, helios.generate_webhook_secret());
  t text;
BEGIN
  IF create_webhook.name IS NULL OR create_webhook.name !~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('invalid webhook name %L: use 1-100 letters, digits, "_", "." or "-"', create_webhook.name);
  END IF;
  IF create_webhook.url IS NULL OR create_webhook.url !~* '^https?://[^/?#@\s]+' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('invalid webhook URL %L: an http:// or https:// URL without credentials is expected', create_webhook.url);
  END IF;
  IF s !~ '^whsec_[A-Za-z0-9+/=]{32,}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid secret: expected "whsec_" followed by base64 of 24 to 64 bytes';
  END IF;
  IF NOT (coalesce(create_webhook.operations, '{}') <@ ARRAY['insert', 'update', 'delete', 'truncate', 'read']) OR cardinality(create_webhook.operations) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('invalid operations %L: choose from insert, update, delete, truncate, read', create_webhook.operations);
  END IF;
  FOREACH t IN ARRAY coalesce(create_webhook.tables, '{}') LOOP
    IF to_regclass(t) IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '42P01', MESSAGE = format('table %s does not exist', t);
    END IF;
  END LOOP;
  IF create_webhook.batch_size IS NULL OR create_webhook.batch_size NOT BETWEEN 1 AND 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'batch_size must be between 1 and 1000';
  END IF;
  IF create_webhook.max_attempts IS NULL OR create_webhook.max_attempts NOT BETWEEN 1 AND 100 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'max_attempts must be between 1 and 100';
  END IF;
  IF create_webhook.rate_limit IS NOT NULL AND create_webhook.rate_limit <= 0 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'rate_limit must be a positive number of requests per second';
  END IF;
  IF EXISTS (SELECT 1 FROM helios.webhooks w WHERE w.name = create_webhook.name) THEN
    RAISE EXCEPTION USING ERRCODE = '42710', MESSAGE = format('webhook %L already exists', create_webhook.name);
  END IF;
  INSERT INTO helios.webhooks (name, url, tables, operations, condition, secrets, batch_size, rate_limit, max_attempts)
  -- Tables are stored schema-qualified as the catalog names them.
  VALUES (create_webhook.name, create_webhook.url,
          ARRAY(SELECT n.nspname || '.' || c.relname FROM unnest(coalesce(create_webhook.tables, '{}')) AS x(t)
                JOIN pg_class c ON c.oid = to_regclass(x.t) JOIN pg_namespace n ON n.oid = c.relnamespace),
          create_webhook.operations, nullif(btrim(create_webhook.condition), ''), ARRAY[s],
          create_webhook.batch_size, create_webhook.rate_limit, create_webhook.max_attempts);
  PERFORM pg_notify('helios_webhooks', create_webhook.name);
  RETURN QUERY SELECT create_webhook.name, s;
END
$$;

CREATE OR REPLACE FUNCTION helios.list_webhooks() RETURNS TABLE (
  name text, url text, tables text[], operations text[], condition text, state text, state_reason text,
  batch_size integer, rate_limit double precision, pending bigint, delivered bigint, dead bigint,
  oldest_pending timestamptz, created_at timestamptz
)
LANGUAGE sql STABLE
AS $$
  SELECT w.name, w.url, w.tables, w.operations, w.condition, w.state, w.state_reason, w.batch_size, w.rate_limit,
         coalesce(o.pending, 0), coalesce(o.delivered, 0), coalesce(o.dead, 0), o.oldest_pending, w.created_at
  FROM helios.webhooks w
  LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE x.state IN ('pending', 'inflight')) AS pending,
           count(*) FILTER (WHERE x.state = 'delivered') AS delivered,
           count(*) FILTER (WHERE x.state = 'dead') AS dead,
           min(x.created_at) FILTER (WHERE x.state IN ('pending', 'inflight')) AS oldest_pending
    FROM helios.webhook_outbox x WHERE x.webhook = w.name
  ) o ON true
  ORDER BY w.name
$$;

CREATE OR REPLACE FUNCTION helios.set_webhook_state(name text, state text, reason text DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  UPDATE helios.webhooks w SET state = set_webhook_state.state, state_reason = set_webhook_state.reason, updated_at = now()
  WHERE w.name = set_webhook_state.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('webhook %L does not exist', set_webhook_state.name);
  END IF;
  PERFORM pg_notify('helios_webhooks', set_webhook_state.name);
  RETURN true;
END
$$;

CREATE OR REPLACE FUNCTION helios.pause_webhook(name text) RETURNS boolean
LANGUAGE sql VOLATILE AS $$ SELECT helios.set_webhook_state(name, 'paused', 'paused by a user') $$;

-- Resuming also re-enables a webhook HeliosDB disabled.
CREATE OR REPLACE FUNCTION helios.resume_webhook(name text) RETURNS boolean
LANGUAGE sql VOLATILE AS $$ SELECT helios.set_webhook_state(name, 'active', NULL) $$;

CREATE OR REPLACE FUNCTION helios.delete_webhook(name text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  DELETE FROM helios.webhooks w WHERE w.name = delete_webhook.name;
  IF NOT FOUND THEN RETURN false; END IF;
  PERFORM pg_notify('helios_webhooks', delete_webhook.name);
  RETURN true;
END
$$;

-- Starts signing with a new secret while the old one still signs too; a second call drops the old one.
CREATE OR REPLACE FUNCTION helios.rotate_webhook_secret(name text, secret text DEFAULT NULL) RETURNS text
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  s text := coalesce(rotate_webhook_secret.secret, helios.generate_webhook_secret());
BEGIN
  IF s !~ '^whsec_[A-Za-z0-9+/=]{32,}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'invalid secret: expected "whsec_" followed by base64 of 24 to 64 bytes';
  END IF;
  UPDATE helios.webhooks w SET secrets = ARRAY[w.secrets[cardinality(w.secrets)], s], updated_at = now()
  WHERE w.name = rotate_webhook_secret.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('webhook %L does not exist', rotate_webhook_secret.name);
  END IF;
  PERFORM pg_notify('helios_webhooks', rotate_webhook_secret.name);
  RETURN s;
END
$$;

-- Sends again the events this webhook's outbox still holds from an LSN or a time on (delivered
-- ones are kept until pruned), as a new generation. Returns how many were queued.
CREATE OR REPLACE FUNCTION helios.replay_webhook(name text, from_lsn pg_lsn DEFAULT NULL, from_time timestamptz DEFAULT NULL) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  n bigint;
BEGIN
  IF (from_lsn IS NULL) = (from_time IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'give exactly one of from_lsn and from_time';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM helios.webhooks w WHERE w.name = replay_webhook.name) THEN
    RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('webhook %L does not exist', replay_webhook.name);
  END IF;
  INSERT INTO helios.webhook_outbox (webhook, event_id, generation, row_key, lsn, commit_time, body)
  SELECT o.webhook, o.event_id, g.next, o.row_key, o.lsn, o.commit_time, o.body
  FROM (
    SELECT DISTINCT ON (x.event_id) x.* FROM helios.webhook_outbox x
    WHERE x.webhook = replay_webhook.name
      AND (from_lsn IS NULL OR x.lsn >= from_lsn) AND (from_time IS NULL OR x.commit_time >= from_time)
    ORDER BY x.event_id, x.generation DESC
  ) o
  CROSS JOIN LATERAL (SELECT max(y.generation) + 1 AS next FROM helios.webhook_outbox y WHERE y.webhook = o.webhook AND y.event_id = o.event_id) g
  ORDER BY o.seq;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM pg_notify('helios_webhooks', replay_webhook.name);
  RETURN n;
END
$$;

-- Dead letters back into the queue, each with a fresh attempt budget.
CREATE OR REPLACE FUNCTION helios.replay_dead_letters(name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  n bigint;
BEGIN
  UPDATE helios.webhook_outbox o SET state = 'pending', attempts = 0, next_attempt_at = now(), lease_until = NULL, claim_token = NULL
  WHERE o.webhook = replay_dead_letters.name AND o.state = 'dead';
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM pg_notify('helios_webhooks', replay_dead_letters.name);
  RETURN n;
END
$$;

-- Queues a backfill of a table's existing rows; a sidecar runs it and reports progress in helios.webhook_backfills.
CREATE OR REPLACE FUNCTION helios.backfill_webhook(name text, table_name text) RETURNS bigint
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  rel regclass := to_regclass(backfill_webhook.table_name);
  id bigint;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM helios.webhooks w WHERE w.name = backfill_webhook.name) THEN
    RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('webhook %L does not exist', backfill_webhook.name);
  END IF;
  IF rel IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42P01', MESSAGE = format('table %s does not exist', backfill_webhook.table_name);
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = rel AND i.indisprimary) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('table %s has no primary key: a backfill walks the primary key', backfill_webhook.table_name);
  END IF;
  INSERT INTO helios.webhook_backfills (webhook, table_name)
  SELECT backfill_webhook.name, n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = rel
  RETURNING webhook_backfills.id INTO id;
  PERFORM pg_notify('helios_webhooks', backfill_webhook.name);
  RETURN id;
END
$$;

-- Forgets HeliosDB's checkpoint for a slot, after an alarm about a lost slot has been dealt with:
-- the next start creates (or adopts) the slot and captures from there on.
CREATE OR REPLACE FUNCTION helios.cdc_reset(slot text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
BEGIN
  DELETE FROM helios.cdc_slots s WHERE s.slot_name = cdc_reset.slot;
  RETURN FOUND;
END
$$;
