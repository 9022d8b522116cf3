-- Per-tenant spend and budgets. The proxy prices every statement as it completes and adds the
-- cost here once a second (cost_spend); budgets are set with the functions below from any SQL
-- client, and every HeliosDB sidecar on this database hears about a change at once through
-- NOTIFY helios_budgets. Periods are UTC days and UTC months.

CREATE TABLE IF NOT EXISTS helios.budgets (
  tenant              text PRIMARY KEY CHECK (length(tenant) BETWEEN 1 AND 200),
  limit_usd           numeric(18, 6) NOT NULL CHECK (limit_usd > 0),
  period              text NOT NULL DEFAULT 'month' CHECK (period IN ('day', 'month')),
  -- reject: statements are refused once the budget is spent; warn: they run, with a WARNING.
  action              text NOT NULL DEFAULT 'reject' CHECK (action IN ('warn', 'reject')),
  -- Percentages of the limit at which sessions get a WARNING, ascending.
  thresholds          numeric[] NOT NULL DEFAULT '{50,80,95}',
  -- A statement whose estimated cost is above this is refused (pg_plan_filter style); null = none.
  statement_limit_usd numeric(18, 6) CHECK (statement_limit_usd IS NULL OR statement_limit_usd > 0),
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);

-- Spend per tenant per UTC hour; sidecars add their deltas, so several can share one database.
CREATE TABLE IF NOT EXISTS helios.cost_spend (
  tenant      text NOT NULL,
  hour        timestamptz NOT NULL,
  cost_usd    double precision NOT NULL DEFAULT 0,
  compute_usd double precision NOT NULL DEFAULT 0,
  io_usd      double precision NOT NULL DEFAULT 0,
  scanned_usd double precision NOT NULL DEFAULT 0,
  egress_usd  double precision NOT NULL DEFAULT 0,
  statements  bigint NOT NULL DEFAULT 0,
  rejected    bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (tenant, hour)
);
CREATE INDEX IF NOT EXISTS cost_spend_hour ON helios.cost_spend (hour);

-- The latest end-of-period forecast per tenant, written by the sidecar about once a minute.
CREATE TABLE IF NOT EXISTS helios.cost_forecasts (
  tenant       text PRIMARY KEY,
  period       text NOT NULL,
  period_start timestamptz NOT NULL,
  period_end   timestamptz NOT NULL,
  spent_usd    double precision NOT NULL,
  forecast_usd double precision NOT NULL,
  lower80_usd  double precision NOT NULL,
  upper80_usd  double precision NOT NULL,
  method       text NOT NULL,
  computed_at  timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION helios.period_start(period text, at timestamptz DEFAULT now()) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT date_trunc(period, at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' $$;

CREATE OR REPLACE FUNCTION helios.period_end(period text, at timestamptz DEFAULT now()) RETURNS timestamptz
LANGUAGE sql IMMUTABLE STRICT
AS $$ SELECT helios.period_start(period, at) + ('1 ' || period)::interval $$;

CREATE OR REPLACE FUNCTION helios.set_budget(
  tenant text,
  limit_usd numeric,
  period text DEFAULT 'month',
  action text DEFAULT 'reject',
  thresholds numeric[] DEFAULT '{50,80,95}',
  statement_limit_usd numeric DEFAULT NULL
) RETURNS helios.budgets
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  result helios.budgets;
BEGIN
  IF tenant IS NULL OR length(tenant) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'tenant must be 1 to 200 characters' USING ERRCODE = '22023';
  END IF;
  IF limit_usd IS NULL OR limit_usd <= 0 THEN
    RAISE EXCEPTION 'budget limit must be a positive amount of dollars, got %', limit_usd USING ERRCODE = '22023';
  END IF;
  IF period IS NULL OR period NOT IN ('day', 'month') THEN
    RAISE EXCEPTION 'budget period must be ''day'' or ''month'', got %', coalesce(quote_literal(period), 'NULL') USING ERRCODE = '22023';
  END IF;
  IF action IS NULL OR action NOT IN ('warn', 'reject') THEN
    RAISE EXCEPTION 'budget action must be ''warn'' or ''reject'', got %', coalesce(quote_literal(action), 'NULL') USING ERRCODE = '22023';
  END IF;
  IF thresholds IS NULL OR EXISTS (SELECT 1 FROM unnest(thresholds) t WHERE t IS NULL OR t <= 0 OR t >= 100) THEN
    RAISE EXCEPTION 'budget thresholds must be percentages between 0 and 100, got %', thresholds USING ERRCODE = '22023';
  END IF;
  IF statement_limit_usd IS NOT NULL AND statement_limit_usd <= 0 THEN
    RAISE EXCEPTION 'statement limit must be a positive amount of dollars, got %', statement_limit_usd USING ERRCODE = '22023';
  END IF;
  INSERT INTO helios.budgets AS b (tenant, limit_usd, period, action, thresholds, statement_limit_usd)
  VALUES (set_budget.tenant, set_budget.limit_usd, set_budget.period, set_budget.action,
          ARRAY(SELECT DISTINCT t FROM unnest(set_budget.thresholds) t ORDER BY t), set_budget.statement_limit_usd)
  ON CONFLICT ON CONSTRAINT budgets_pkey DO UPDATE
    SET limit_usd = excluded.limit_usd, period = excluded.period, action = excluded.action,
        thresholds = excluded.thresholds, statement_limit_usd = excluded.statement_limit_usd, updated_at = now()
  RETURNING * INTO result;
  PERFORM pg_notify('helios_budgets', set_budget.tenant);
  RETURN result;
END
$$;

CREATE OR REPLACE FUNCTION helios.remove_budget(tenant text) RETURNS boolean
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  removed boolean;
BEGIN
  DELETE FROM helios.budgets b WHERE b.tenant = remove_budget.tenant;
  removed := FOUND;
  IF removed THEN
    PERFORM pg_notify('helios_budgets', remove_budget.tenant);
  END IF;
  RETURN removed;
END
$$;

-- Spend in the current period as of the sidecars' last flush (at most about a second behind).
CREATE OR REPLACE FUNCTION helios.budget_status()
RETURNS TABLE (
  tenant text,
  period text,
  period_start timestamptz,
  period_end timestamptz,
  limit_usd numeric,
  spent_usd numeric,
  percent numeric,
  action text,
  status text,
  statement_limit_usd numeric,
  forecast_usd numeric
)
LANGUAGE sql STABLE
AS $$
  SELECT b.tenant, b.period, helios.period_start(b.period), helios.period_end(b.period), b.limit_usd,
         round(coalesce(s.spent, 0)::numeric, 6),
         round((100 * coalesce(s.spent, 0) / b.limit_usd)::numeric, 2),
         b.action,
         CASE WHEN coalesce(s.spent, 0) >= b.limit_usd THEN 'exhausted'
              WHEN 100 * coalesce(s.spent, 0) / b.limit_usd >= (SELECT min(t) FROM unnest(b.thresholds) t) THEN 'warning'
              ELSE 'ok' END,
         b.statement_limit_usd,
         round(f.forecast_usd::numeric, 6)
    FROM helios.budgets b
    LEFT JOIN LATERAL (
      SELECT sum(c.cost_usd) AS spent FROM helios.cost_spend c
       WHERE c.tenant = b.tenant AND c.hour >= helios.period_start(b.period)
    ) s ON true
    LEFT JOIN helios.cost_forecasts f ON f.tenant = b.tenant AND f.period = b.period AND f.period_start = helios.period_start(b.period)
   ORDER BY b.tenant
$$;

-- The sidecar's latest end-of-period forecast for a tenant: mean and 80% interval.
CREATE OR REPLACE FUNCTION helios.cost_forecast(tenant_name text)
RETURNS TABLE (
  tenant text,
  period text,
  period_start timestamptz,
  period_end timestamptz,
  spent_usd numeric,
  forecast_usd numeric,
  lower80_usd numeric,
  upper80_usd numeric,
  limit_usd numeric,
  method text,
  computed_at timestamptz
)
LANGUAGE sql STABLE
AS $$
  SELECT f.tenant, f.period, f.period_start, f.period_end, round(f.spent_usd::numeric, 6), round(f.forecast_usd::numeric, 6),
         round(f.lower80_usd::numeric, 6), round(f.upper80_usd::numeric, 6), b.limit_usd, f.method, f.computed_at
    FROM helios.cost_forecasts f
    LEFT JOIN helios.budgets b ON b.tenant = f.tenant
   WHERE f.tenant = cost_forecast.tenant_name
$$;
