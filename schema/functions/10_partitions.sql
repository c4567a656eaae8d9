-- Partitions of usage_events: one per UTC month, created ahead of time and on demand.

-- Creates the partition of ts's UTC month if it is missing (rows already in the default
-- partition for that month are moved into it). Safe with concurrent callers: the advisory
-- lock serialises creators, but a plpgsql function keeps its catalog view, so a second
-- caller that waited on the lock may still not see the partition the first one has just
-- created; losing that race is success (the partition exists, all the caller asked for).
CREATE OR REPLACE FUNCTION tally_ensure_month(ts timestamptz) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m timestamp := date_trunc('month', ts AT TIME ZONE 'UTC');
    part text := format('usage_events_%s', to_char(m, 'YYYY_MM'));
    lo timestamptz := m AT TIME ZONE 'UTC';
    hi timestamptz := (m + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(7340311);
    IF to_regclass(format('public.%I', part)) IS NOT NULL THEN
        RETURN;
    END IF;
    BEGIN
        EXECUTE format('CREATE TABLE public.%I (LIKE public.usage_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part);
    EXCEPTION WHEN duplicate_table THEN
        RETURN;
    END;
    EXECUTE format('WITH moved AS (DELETE FROM public.usage_events_default WHERE event_time >= $1 AND event_time < $2 RETURNING *) '
                   'INSERT INTO public.%I SELECT * FROM moved', part) USING lo, hi;
    EXECUTE format('ALTER TABLE public.usage_events ATTACH PARTITION public.%I FOR VALUES FROM (%L) TO (%L)',
                   part, lo, hi);
END
$$;

-- Ensures partitions for every month in [from_ts, to_ts].
CREATE OR REPLACE FUNCTION tally_ensure_months(from_ts timestamptz, to_ts timestamptz) RETURNS void
LANGUAGE sql AS $$
    SELECT tally_ensure_month(m)
      FROM generate_series(date_trunc('month', from_ts AT TIME ZONE 'UTC'),
                           date_trunc('month', to_ts AT TIME ZONE 'UTC'),
                           interval '1 month') AS g(m0),
           LATERAL (SELECT g.m0 AT TIME ZONE 'UTC') AS x(m);
$$;
