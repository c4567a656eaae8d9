-- 0004_quotas: quota periods and usage, alert facts, the delivery outbox (DESIGN §7).
--
-- A quota's period is the day, ISO week (Monday) or month containing an instant, in the
-- quota's IANA zone, so its bounds move with DST and with offsets such as +05:45. Usage is
-- read through the cost engine (tally_usage_priced of 0003, the newest price book): cost is
-- the sum of priced rows (unpriced usage has no cost and is reported apart by the engine),
-- tokens the sum of every token class of every row, priced or not.

-- 1..1000 %, strictly ascending, at least one.
CREATE FUNCTION tally_quota_thresholds_valid(t integer[]) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(cardinality(t), 0) BETWEEN 1 AND 32
       AND array_ndims(t) = 1
       AND NOT EXISTS (SELECT 1
                         FROM (SELECT v, lag(v) OVER (ORDER BY i) AS prev
                                 FROM unnest(t) WITH ORDINALITY AS a(v, i)) x
                        WHERE v IS NULL OR v < 1 OR v > 1000 OR v <= prev)
$$;

ALTER TABLE quotas
    ADD CONSTRAINT quotas_thresholds_valid CHECK (tally_quota_thresholds_valid(thresholds)),
    ADD CONSTRAINT quotas_subject_scope CHECK ((scope = 'everyone') = (subject = '')),
    ADD CONSTRAINT quotas_targets_array CHECK (jsonb_typeof(targets) = 'array');

-- What the evaluator saw when it fired: the delivery payloads are built from these.
ALTER TABLE alert_log
    ADD COLUMN period_end timestamptz,
    ADD COLUMN ratio numeric,
    ADD COLUMN forecast numeric;

-- One row per fired alert × notification target of its quota, written in the transaction
-- that inserted the alert_log row (so only the server that won the insert enqueues).
-- Delivery claims due rows with FOR UPDATE SKIP LOCKED. url may embed a secret (Slack,
-- Teams): it is stored, never logged. secret_ref names where the webhook's HMAC key lives
-- ('env:NAME' or 'file:PATH'), never the key itself.
CREATE TABLE alert_outbox (
    id bigserial PRIMARY KEY,
    alert_id bigint NOT NULL REFERENCES alert_log(id) ON DELETE CASCADE,
    target_index integer NOT NULL, -- position in quotas.targets, from 0
    kind text NOT NULL CHECK (kind IN ('webhook', 'slack', 'teams', 'alertmanager')),
    url text NOT NULL,
    secret_ref text,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_status integer, -- HTTP status of the last attempt, NULL when none came back
    last_error text,     -- never contains the URL or a secret
    created_at timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    UNIQUE (alert_id, target_index)
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE state = 'pending';

-- An instant as the API prints it: ISO 8601 in UTC with a Z, to the second.
CREATE FUNCTION tally_iso_utc(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The period of kind ('day', 'week', 'month') containing p_at in zone p_tz: [start, end).
CREATE FUNCTION tally_quota_period(p_period text, p_tz text, p_at timestamptz,
                                   OUT period_start timestamptz, OUT period_end timestamptz)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    local_start timestamp;
BEGIN
    IF p_period NOT IN ('day', 'week', 'month') THEN
        RAISE EXCEPTION 'unknown quota period "%"', p_period;
    END IF;
    local_start := date_trunc(p_period, p_at AT TIME ZONE p_tz); -- 'week' is ISO: Monday
    period_start := local_start AT TIME ZONE p_tz;
    period_end := (local_start + ('1 ' || p_period)::interval) AT TIME ZONE p_tz;
END
$$;

-- A quota's usage in the period containing p_at.
-- Decimals come without trailing zeros (trim_scale), like every amount the reports print.
--   used      cost in USD (priced usage, newest price book) or tokens (every class)
--   ratio     used / limit, rounded to 6 decimals (thresholds are compared exactly:
--             used × 100 ≥ limit × threshold)
--   forecast  the burn rate so far projected to the end of the period:
--             used × (period_end − period_start) / (p_at − period_start), in exact seconds,
--             rounded to 6 decimals; NULL until a tenth of the period has passed (earlier
--             projections swing too much to alert on) and after the period
--   forecast_over  the unrounded projection reaches the limit (used × length ≥ limit ×
--             elapsed) while used is still below it: what the forecast alert fires on
--   unpriced_tokens  tokens of the scope in the period that the book cannot price: a cost
--             quota does not count them (they have no cost), so they are shown beside it
-- Scope: a developer (subject = oid); a team (subject = team): the usage of each developer
-- on each day (in the quota's zone) on which a dated developers row naming the team is
-- valid for at least part of that day; everyone.
CREATE FUNCTION tally_quota_usage(p_quota integer, p_at timestamptz DEFAULT now())
RETURNS TABLE (period_start timestamptz, period_end timestamptz, used numeric,
               limit_value numeric, ratio numeric, forecast numeric, forecast_over boolean,
               unpriced_tokens bigint)
-- SECURITY DEFINER: reporting.quota_status calls it as tally_reader, which reads only views
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
    q quotas;
    len_s numeric;
    elapsed_s numeric;
BEGIN
    SELECT * INTO q FROM quotas WHERE id = p_quota;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT p.period_start, p.period_end INTO period_start, period_end
      FROM tally_quota_period(q.period, q.tz, p_at) p;
    limit_value := q.limit_value;

    -- the engine's 5m writes include the unsplit ones
    SELECT coalesce(sum(CASE WHEN q.metric = 'cost_usd'
                             THEN CASE WHEN u.priced THEN u.cost_usd ELSE 0 END
                             ELSE u.input_tokens + u.output_tokens + u.cache_read_tokens
                                  + u.cache_write_5m_tokens + u.cache_write_1h_tokens END), 0),
           coalesce(sum(u.input_tokens + u.output_tokens + u.cache_read_tokens
                        + u.cache_write_5m_tokens + u.cache_write_1h_tokens)
                        FILTER (WHERE NOT u.priced), 0)
      INTO used, unpriced_tokens
      FROM tally_usage_priced(tally_book(NULL), period_start, period_end, q.tz, 'day') u
     WHERE q.scope = 'everyone'
        OR (q.scope = 'developer' AND u.developer_oid = q.subject)
        OR (q.scope = 'team' AND EXISTS (
                SELECT 1 FROM developers d
                 WHERE d.oid = u.developer_oid AND d.team = q.subject
                   AND d.valid_from < ((u.period_start AT TIME ZONE q.tz) + interval '1 day') AT TIME ZONE q.tz
                   AND d.valid_to > u.period_start));

    ratio := trim_scale(round(used / limit_value, 6));
    len_s := extract(epoch FROM period_end - period_start);
    elapsed_s := extract(epoch FROM p_at - period_start);
    IF elapsed_s * 10 >= len_s AND elapsed_s <= len_s THEN
        forecast := trim_scale(round(used * len_s / elapsed_s, 6));
        forecast_over := used < limit_value AND used * len_s >= limit_value * elapsed_s;
    ELSE
        forecast_over := false;
    END IF;
    used := trim_scale(used);
    RETURN NEXT;
END
$$;

-- Quota use now, for Grafana (reads as tally_reader) and people with psql.
CREATE VIEW reporting.quota_status AS
SELECT q.id AS quota_id, q.name AS quota, q.scope, q.subject, q.metric, q.period, q.tz,
       u.period_start, u.period_end, u.used, u.limit_value, u.ratio, u.forecast,
       u.unpriced_tokens
  FROM quotas q, LATERAL tally_quota_usage(q.id, now()) u;

CREATE VIEW reporting.alert_log AS
SELECT a.id, a.quota_id, q.name AS quota, a.period_start, a.period_end, a.threshold, a.used,
       a.limit_value, a.ratio, a.forecast, a.fired_at,
       (SELECT count(*) FROM alert_outbox o WHERE o.alert_id = a.id AND o.state = 'delivered') AS delivered,
       (SELECT count(*) FROM alert_outbox o WHERE o.alert_id = a.id AND o.state = 'pending') AS pending,
       (SELECT count(*) FROM alert_outbox o WHERE o.alert_id = a.id AND o.state = 'failed') AS failed
  FROM alert_log a JOIN quotas q ON q.id = a.quota_id;

GRANT SELECT ON reporting.quota_status, reporting.alert_log TO tally_reader;
