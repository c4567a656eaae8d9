-- 0006: tally_ensure_month is safe with concurrent callers.
-- The advisory lock serialises creators, but a plpgsql function keeps its catalog view:
-- a second daemon that waited on the lock could still not see the partition the first one
-- had just created, and failed with "relation … already exists". Losing that race is now
-- success: the partition exists, which is all the caller asked for.
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
