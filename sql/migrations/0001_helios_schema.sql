-- HeliosDB's control schema: the bookkeeping every later migration builds on.
-- Applied by src/control-schema.ts inside a transaction, which also records the version row.

CREATE SCHEMA IF NOT EXISTS helios;

CREATE TABLE IF NOT EXISTS helios.schema_version (
  version    int PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);

-- Reports the control schema version this database has; the HeliosDB package version is not stored here.
CREATE OR REPLACE FUNCTION helios.version() RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT 'heliosdb schema ' || coalesce(max(version), 0) FROM helios.schema_version
$$;
