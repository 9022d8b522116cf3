-- Change capture publishes through two publications, so that it never makes a user's UPDATE or
-- DELETE fail. PostgreSQL refuses UPDATE and DELETE (SQLSTATE 55000) on a table that is in a
-- publication publishing them and has no replica identity, so:
--   <publication>        FOR TABLES IN SCHEMA ... WITH (publish = 'insert, truncate'): every table
--                        of the schemas from its creation on; never blocks a write.
--   <publication>_keyed  WITH (publish = 'update, delete'): exactly the tables of those schemas
--                        that have a usable replica identity, kept in step by
--                        helios.cdc_sync_keyed_publication (run by capture at start and every few
--                        seconds, and, where a superuser installed them, by event triggers inside
--                        the DDL's own transaction).
-- pgoutput is given both names and sends a change once even when its table is in both.

-- The publication pairs HeliosDB created this way. A publication of the configured name that is
-- not listed here (an older HeliosDB's, or the user's own) is used as it is and never altered.
CREATE TABLE IF NOT EXISTS helios.cdc_publications (
  publication       text PRIMARY KEY,
  keyed_publication text NOT NULL UNIQUE,
  created_at        timestamptz NOT NULL DEFAULT now()
);

-- Which of the given tables UPDATE and DELETE may be published for without failing, as PostgreSQL
-- decides it (CheckCmdReplicaIdentity with RelationGetIndexList's choice of the identity index):
-- FULL; or DEFAULT with a primary key, or USING INDEX with that index still there, the index being
-- live, valid, unique, immediate (a DEFERRABLE primary key is no identity) and without predicate.
-- Since PostgreSQL 18 an identity that contains a generated column is refused as well while the
-- publication does not publish generated columns (publish_generated_columns = none, the default
-- and what HeliosDB's publications use). Reads the catalog only and takes no lock on the tables.
-- Set-based (joins, no per-table function call), since the periodic sync judges whole schemas.
CREATE OR REPLACE FUNCTION helios.cdc_identity_usable_tables(rels oid[]) RETURNS SETOF oid
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
  SELECT c.oid FROM unnest(rels) AS r(oid) JOIN pg_class c ON c.oid = r.oid
  WHERE c.relreplident = 'f'
    AND NOT (current_setting('server_version_num')::int >= 180000 AND EXISTS (
      SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated <> ''))
  UNION ALL
  -- A table has at most one primary key and one index marked as its identity: one row each.
  SELECT c.oid FROM unnest(rels) AS r(oid) JOIN pg_class c ON c.oid = r.oid JOIN pg_index i ON i.indrelid = c.oid
  WHERE c.relreplident IN ('d', 'i')
    AND i.indislive AND i.indisvalid AND i.indisunique AND i.indimmediate AND i.indpred IS NULL
    AND CASE c.relreplident WHEN 'd' THEN i.indisprimary ELSE i.indisreplident END
    AND NOT (current_setting('server_version_num')::int >= 180000 AND EXISTS (
      SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum = ANY (i.indkey::int2[]) AND a.attgenerated <> ''))
$$;

CREATE OR REPLACE FUNCTION helios.cdc_replica_identity_usable(rel oid) RETURNS boolean
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM helios.cdc_identity_usable_tables(ARRAY[rel])) $$;

-- Brings a keyed publication in step with the tables its base publication covers: adds the
-- permanent tables that have a usable replica identity and drops those that lost it (or left the
-- schemas, or became unlogged). `tables` limits it to those tables: the event trigger passes the
-- ones its DDL touched, so that a DDL costs the same however many tables the schemas hold.
-- Tables are altered one by one, so one that cannot be (a lock not granted within lock_timeout,
-- say) is reported in `error` and the others still are; drops come first, since a member without
-- identity is what makes writes fail. Only tables HeliosDB would publish anyway can be added.
-- SECURITY DEFINER lets the event trigger run it for whichever role ran the DDL (ALTER
-- PUBLICATION needs the publication's owner, ADD TABLE the table's).
CREATE OR REPLACE FUNCTION helios.cdc_sync_keyed_publication(publication text, tables oid[] DEFAULT NULL)
RETURNS TABLE (action text, table_name text, error text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
-- ALTER PUBLICATION holds the publication's lock until commit, and ADD TABLE a SHARE UPDATE
-- EXCLUSIVE lock on the table: neither the capture's periodic sync nor a user's DDL (through the
-- event trigger) should wait long for the other. Kept below the default deadlock_timeout (1 s), so
-- in a lock cycle with a user's statement it is this sync that gives up, not the statement.
SET lock_timeout = '500ms'
AS $$
DECLARE
  keyed_name text;
  base_oid oid;
  keyed_oid oid;
  r record;
  nsp text;
  rel text;
  failure text;
  candidates oid[];
  members oid[];
BEGIN
  SELECT h.keyed_publication INTO keyed_name FROM helios.cdc_publications h WHERE h.publication = cdc_sync_keyed_publication.publication;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = '42704', MESSAGE = format('publication %I is not one HeliosDB created with a keyed publication', cdc_sync_keyed_publication.publication);
  END IF;
  SELECT p.oid INTO base_oid FROM pg_publication p WHERE p.pubname = cdc_sync_keyed_publication.publication;
  SELECT p.oid INTO keyed_oid FROM pg_publication p WHERE p.pubname = keyed_name;
  -- Dropped by hand: capture recreates what it needs when it starts.
  IF base_oid IS NULL OR keyed_oid IS NULL THEN
    RETURN;
  END IF;
  IF tables IS NULL THEN
    SELECT array_agg(c.oid) INTO candidates FROM pg_class c
    WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND c.relnamespace <> 'helios'::regnamespace
      AND (c.relnamespace IN (SELECT pn.pnnspid FROM pg_publication_namespace pn WHERE pn.pnpubid = base_oid)
           OR c.oid IN (SELECT pr.prrelid FROM pg_publication_rel pr WHERE pr.prpubid = base_oid));
    SELECT array_agg(pr.prrelid) INTO members FROM pg_publication_rel pr WHERE pr.prpubid = keyed_oid;
  ELSE
    SELECT array_agg(c.oid) INTO candidates FROM unnest(tables) AS t(oid) JOIN pg_class c ON c.oid = t.oid
    WHERE c.relkind = 'r' AND c.relpersistence = 'p' AND c.relnamespace <> 'helios'::regnamespace
      AND (c.relnamespace IN (SELECT pn.pnnspid FROM pg_publication_namespace pn WHERE pn.pnpubid = base_oid)
           OR c.oid IN (SELECT pr.prrelid FROM pg_publication_rel pr WHERE pr.prpubid = base_oid));
    SELECT array_agg(pr.prrelid) INTO members FROM unnest(tables) AS t(oid)
    JOIN pg_publication_rel pr ON pr.prrelid = t.oid AND pr.prpubid = keyed_oid;
  END IF;
  FOR r IN
    WITH wanted AS (
      SELECT u.oid FROM helios.cdc_identity_usable_tables(coalesce(candidates, '{}')) AS u(oid)
    ), have AS (
      SELECT m.oid FROM unnest(coalesce(members, '{}')) AS m(oid)
    )
    SELECT w.oid, true AS adding FROM wanted w WHERE w.oid NOT IN (SELECT h.oid FROM have h)
    UNION ALL
    SELECT h.oid, false AS adding FROM have h WHERE h.oid NOT IN (SELECT w.oid FROM wanted w)
    ORDER BY adding, oid
  LOOP
    SELECT n.nspname, c.relname INTO nsp, rel FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = r.oid;
    CONTINUE WHEN NOT FOUND;
    action := CASE WHEN r.adding THEN 'add' ELSE 'drop' END;
    table_name := nsp || '.' || rel;
    failure := NULL;
    BEGIN
      IF r.adding THEN
        -- ONLY: inheritance children are judged on their own identity.
        EXECUTE format('ALTER PUBLICATION %I ADD TABLE ONLY %I.%I', keyed_name, nsp, rel);
        -- The list was read before the lock: an ALTER TABLE that took the identity away and
        -- committed in between shows now (pg_get_replica_identity_index reads the relation cache,
        -- current once the lock is held, also under a REPEATABLE READ snapshot), and none can
        -- follow until this transaction ends.
        IF NOT helios.cdc_replica_identity_usable(r.oid)
           OR (pg_get_replica_identity_index(r.oid) IS NULL AND (SELECT c.relreplident FROM pg_class c WHERE c.oid = r.oid) <> 'f') THEN
          EXECUTE format('ALTER PUBLICATION %I DROP TABLE ONLY %I.%I', keyed_name, nsp, rel);
          CONTINUE;
        END IF;
      ELSE
        EXECUTE format('ALTER PUBLICATION %I DROP TABLE ONLY %I.%I', keyed_name, nsp, rel);
      END IF;
    EXCEPTION
      -- Another sidecar's sync (or the event trigger) made the same change first.
      WHEN duplicate_object OR undefined_object OR undefined_table THEN
        CONTINUE;
      WHEN OTHERS THEN
        failure := SQLERRM;
    END;
    error := failure;
    RETURN NEXT;
  END LOOP;
END
$$;

-- The event triggers' function: after CREATE TABLE or ALTER TABLE of a table in a schema a
-- HeliosDB publication covers (or of a member of a keyed publication), syncs those tables, and
-- after a drop that removed an index there (DROP INDEX, or a cascade) every table, inside the
-- DDL's own transaction: the first UPDATE of a new keyed table is published, and a table that
-- lost its identity is out before anyone can write to it. It never makes the DDL fail: every
-- error becomes a WARNING, and the periodic sync catches up.
-- ALTER PUBLICATION it runs fires sql_drop again (DROP TABLE from a publication drops a
-- "publication relation"), which finds no index among the dropped objects and returns.
CREATE OR REPLACE FUNCTION helios.cdc_ddl_sync() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  published text[];
  touched oid[];
  pub text;
  keyed text;
  r record;
BEGIN
  BEGIN
    -- ALTER TABLE is handled at its ddl_command_end; DROP TABLE leaves no table behind to judge.
    IF TG_EVENT = 'sql_drop' AND TG_TAG IN ('ALTER TABLE', 'DROP TABLE') THEN
      RETURN;
    END IF;
    SELECT array_agg(DISTINCT n.nspname) INTO published
    FROM helios.cdc_publications h
    JOIN pg_publication p ON p.pubname = h.publication
    JOIN pg_publication_namespace pn ON pn.pnpubid = p.oid
    JOIN pg_namespace n ON n.oid = pn.pnnspid;
    IF published IS NULL THEN
      RETURN;
    END IF;
    IF TG_EVENT = 'sql_drop' THEN
      -- A dropped index's catalog rows are gone and its table is not named: every table is judged.
      IF NOT EXISTS (
        SELECT 1 FROM pg_event_trigger_dropped_objects() d
        WHERE d.object_type = 'index' AND NOT d.is_temporary AND d.schema_name = ANY (published)
      ) THEN
        RETURN;
      END IF;
      touched := NULL;
    ELSE
      -- Temporary tables report schema pg_temp, and the helios schema is never published; a
      -- member moved out of the schemas (SET SCHEMA) reports its new schema.
      SELECT array_agg(DISTINCT c.objid) INTO touched
      FROM pg_event_trigger_ddl_commands() c
      WHERE c.object_type = 'table'
        AND (c.schema_name = ANY (published)
             OR EXISTS (SELECT 1 FROM pg_publication_rel pr
                        JOIN pg_publication p ON p.oid = pr.prpubid
                        JOIN helios.cdc_publications h ON h.keyed_publication = p.pubname
                        WHERE pr.prrelid = c.objid));
      IF touched IS NULL THEN
        RETURN;
      END IF;
      -- Only the parent is reported when its ALTER TABLE (ADD PRIMARY KEY, ATTACH PARTITION)
      -- changes its partitions, which are the tables that hold rows and are published.
      SELECT array_agg(DISTINCT x.relid) INTO touched
      FROM unnest(touched) AS t(oid), LATERAL pg_partition_tree(t.oid::regclass) x;
    END IF;
    FOR pub, keyed IN SELECT h.publication, h.keyed_publication FROM helios.cdc_publications h ORDER BY h.publication LOOP
      FOR r IN SELECT * FROM helios.cdc_sync_keyed_publication(pub, touched) s WHERE s.error IS NOT NULL LOOP
        RAISE WARNING USING
          MESSAGE = format('HeliosDB change capture could not %s table %s %s publication %s: %s',
                           r.action, r.table_name, CASE r.action WHEN 'add' THEN 'to' ELSE 'from' END, keyed, r.error),
          HINT = 'HeliosDB retries within seconds; the statement itself was not affected.';
      END LOOP;
    END LOOP;
  EXCEPTION WHEN OTHERS THEN
    RAISE WARNING USING
      MESSAGE = format('HeliosDB change capture could not sync its publications after %s: %s', TG_TAG, SQLERRM),
      HINT = 'HeliosDB retries within seconds; the statement itself was not affected.';
  END;
END
$$;

-- Event triggers need a superuser. Returns false, changing nothing, for any other role; a
-- superuser can run it later (SELECT helios.cdc_install_ddl_triggers()) to install them. It also
-- refuses while the helios schema or the functions the triggers run belong to a role that is not
-- a superuser: that role could replace them and have its code run by whoever runs DDL.
-- CREATE TABLE AS and SELECT INTO are left out: a table they create has no primary key.
CREATE OR REPLACE FUNCTION helios.cdc_install_ddl_triggers() RETURNS boolean
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (
    SELECT 1 FROM pg_roles r
    WHERE NOT r.rolsuper AND r.oid IN (
      SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'helios'
      UNION ALL
      SELECT p.proowner FROM pg_proc p
      WHERE p.oid IN ('helios.cdc_ddl_sync()'::regprocedure, 'helios.cdc_sync_keyed_publication(text, oid[])'::regprocedure,
                      'helios.cdc_identity_usable_tables(oid[])'::regprocedure, 'helios.cdc_replica_identity_usable(oid)'::regprocedure))
  ) THEN
    RETURN false;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'helios_cdc_ddl_end') THEN
    DROP EVENT TRIGGER helios_cdc_ddl_end;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'helios_cdc_sql_drop') THEN
    DROP EVENT TRIGGER helios_cdc_sql_drop;
  END IF;
  CREATE EVENT TRIGGER helios_cdc_ddl_end ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION helios.cdc_ddl_sync();
  CREATE EVENT TRIGGER helios_cdc_sql_drop ON sql_drop
    EXECUTE FUNCTION helios.cdc_ddl_sync();
  RETURN true;
EXCEPTION WHEN insufficient_privilege THEN
  RETURN false;
END
$$;

-- Change capture calls the sync as the role that applied the migrations; nobody else needs to.
REVOKE EXECUTE ON FUNCTION helios.cdc_sync_keyed_publication(text, oid[]) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION helios.cdc_ddl_sync() FROM PUBLIC;

DO $$
BEGIN
  IF NOT helios.cdc_install_ddl_triggers() THEN
    RAISE NOTICE USING
      MESSAGE = 'HeliosDB: no DDL event triggers for change capture (they need a superuser)',
      HINT = 'UPDATE and DELETE of a table that gains a replica identity are published from the next periodic sync on. Once the helios schema and its functions belong to a superuser, a superuser can run SELECT helios.cdc_install_ddl_triggers().';
  END IF;
END
$$;
