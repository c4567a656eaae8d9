-- The cost engine's plan: which rollup pieces cover a range, split where prices or
-- deployments change (docs/architecture.md, "Cost engine").

-- The id of a price book by name; NULL name = the newest book (highest published, then
-- the last loaded), NULL when no book is loaded. An unknown name is an error (P0002).
CREATE OR REPLACE FUNCTION tally_book(p_name text) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r integer;
BEGIN
    IF p_name IS NULL THEN
        SELECT id INTO r FROM price_books ORDER BY published DESC, id DESC LIMIT 1;
        RETURN r;
    END IF;
    SELECT id INTO r FROM price_books WHERE name = p_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'price book "%" is not loaded', p_name USING ERRCODE = 'no_data_found';
    END IF;
    RETURN r;
END
$$;

-- The 15-minute grid every rollup bucket is on.
CREATE OR REPLACE FUNCTION tally_on_grid(t timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT t = date_bin('15 minutes', t, timestamptz '2000-01-01 00:00+00')
$$;

-- Instants where a price or a deployment mapping changes, rounded up onto the 15-minute
-- grid (a rollup bucket is resolved at its start), sorted. Between two of them every
-- model's resolution and rates are constant: a "zone".
CREATE OR REPLACE FUNCTION tally_cost_breaks(p_book integer) RETURNS timestamptz[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}')
      FROM (SELECT effective_from FROM prices WHERE book_id = p_book
            UNION SELECT effective_to FROM prices WHERE book_id = p_book
            UNION SELECT valid_from FROM deployments
            UNION SELECT valid_to FROM deployments) x(t)
     CROSS JOIN LATERAL (SELECT date_bin('15 minutes', t + interval '15 minutes' - interval '1 microsecond',
                                         timestamptz '2000-01-01 00:00+00')) y(b)
     WHERE isfinite(t)
$$;

-- The price breaks (as tally_cost_breaks rounds them) of the models in p_models (p_in) or
-- of every other model (NOT p_in), and the bounds of every deployment mapping with a
-- residency class: the breaks that matter to usage whose model is known and is one of
-- those (a deployment's model does not apply to it, its residency class does).
CREATE OR REPLACE FUNCTION tally_cost_breaks_of(p_book integer, p_models text[], p_in boolean) RETURNS timestamptz[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT b ORDER BY b), '{}')
      FROM (SELECT x.t FROM prices p
             CROSS JOIN LATERAL (VALUES (p.effective_from), (p.effective_to)) x(t)
             WHERE p.book_id = p_book AND (p.model = ANY(p_models)) = p_in
            UNION SELECT valid_from FROM deployments WHERE residency <> ''
            UNION SELECT valid_to FROM deployments WHERE residency <> '') x(t)
     CROSS JOIN LATERAL (SELECT date_bin('15 minutes', t + interval '15 minutes' - interval '1 microsecond',
                                         timestamptz '2000-01-01 00:00+00')) y(b)
     WHERE isfinite(t)
$$;

-- True when a break lies strictly inside (lo, hi): a rollup row spanning [lo, hi) would
-- mix two zones and cannot be priced whole.
CREATE OR REPLACE FUNCTION tally_cost_split(breaks timestamptz[], lo timestamptz, hi timestamptz) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT EXISTS (SELECT 1 FROM unnest(breaks) b WHERE b > lo AND b < hi)
$$;

-- Covers [a, b) with UTC-day rollup pieces ('d') and 15-minute pieces ('q') of sign s.
-- A partial day longer than half a day is read as the whole day minus the rest, when
-- the day lies in one zone (only for s = 1, so subtraction never nests).
CREATE OR REPLACE FUNCTION tally_cost_days(a timestamptz, b timestamptz, s integer, breaks timestamptz[])
RETURNS TABLE (kind text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE ROWS 4 AS $$
DECLARE
    dl timestamptz := date_bin('1 day', a + interval '24 hours' - interval '1 microsecond', timestamptz '2000-01-01 00:00+00');
    dh timestamptz := date_bin('1 day', b, timestamptz '2000-01-01 00:00+00');
    parts timestamptz[];
    u timestamptz;
    v timestamptz;
    d timestamptz;
BEGIN
    IF a >= b THEN
        RETURN;
    END IF;
    IF dl < dh THEN
        kind := 'd'; lo := dl; hi := dh; sign := s;
        RETURN NEXT;
        parts := ARRAY[a, dl, dh, b];
    ELSIF dl = dh THEN
        parts := ARRAY[a, dl, dl, b];
    ELSE
        parts := ARRAY[a, b, b, b];
    END IF;
    FOR i IN 0..1 LOOP
        u := parts[2 * i + 1];
        v := parts[2 * i + 2];
        CONTINUE WHEN u >= v;
        d := date_bin('1 day', u, timestamptz '2000-01-01 00:00+00');
        IF s = 1 AND (v - u) > interval '12 hours'
           AND NOT tally_cost_split(breaks, d, d + interval '24 hours') THEN
            kind := 'd'; lo := d; hi := d + interval '24 hours'; sign := 1;
            RETURN NEXT;
            kind := 'q'; sign := -1;
            IF d < u THEN
                lo := d; hi := u;
                RETURN NEXT;
            END IF;
            IF v < d + interval '24 hours' THEN
                lo := v; hi := d + interval '24 hours';
                RETURN NEXT;
            END IF;
        ELSE
            kind := 'q'; lo := u; hi := v; sign := s;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

-- Covers [a, b) (inside one zone) with rollup pieces: whole UTC months from the monthly
-- rollup, whole UTC days from the daily one, the rest from 15-minute buckets. A partial
-- month longer than half the month is read as the whole month minus the rest when the
-- month lies in one zone: a local month in any zone then costs one monthly read plus a
-- few hours of buckets, whatever the number of events.
CREATE OR REPLACE FUNCTION tally_cost_cover(a timestamptz, b timestamptz, breaks timestamptz[])
RETURNS TABLE (kind text, lo timestamptz, hi timestamptz, sign integer)
LANGUAGE plpgsql STABLE ROWS 4 AS $$
DECLARE
    m timestamptz := date_trunc('month', a, 'UTC');
    mn timestamptz;
    x timestamptz;
    y timestamptz;
BEGIN
    WHILE m < b LOOP
        mn := date_trunc('month', m + interval '32 days', 'UTC');
        x := greatest(a, m);
        y := least(b, mn);
        IF x = m AND y = mn THEN
            RETURN QUERY SELECT 'm', m, mn, 1;
        ELSIF (y - x) * 2 > (mn - m) AND NOT tally_cost_split(breaks, m, mn) THEN
            RETURN QUERY SELECT 'm', m, mn, 1;
            RETURN QUERY SELECT * FROM tally_cost_days(m, x, -1, breaks);
            RETURN QUERY SELECT * FROM tally_cost_days(y, mn, -1, breaks);
        ELSE
            RETURN QUERY SELECT * FROM tally_cost_days(x, y, 1, breaks);
        END IF;
        m := mn;
    END LOOP;
END
$$;

-- The plan of a cost query: signed rollup pieces whose sum is exactly the usage in
-- [p_from, p_to), each tagged with its local period and with `at`, an instant of its
-- zone at which deployments and prices are looked up.
-- p_breaks (default: every break of the book, tally_cost_breaks) plans usage that only
-- those breaks can split (the usage of some models only: tally_usage_priced_detail).
CREATE OR REPLACE FUNCTION tally_cost_pieces(p_book integer, p_from timestamptz, p_to timestamptz,
                                  p_tz text, p_grain text, p_breaks timestamptz[] DEFAULT NULL)
RETURNS TABLE (kind text, lo timestamptz, hi timestamptz, sign integer,
               period_start timestamptz, at timestamptz)
LANGUAGE plpgsql STABLE ROWS 8 AS $$
DECLARE
    breaks timestamptz[] := coalesce(p_breaks, tally_cost_breaks(p_book));
    cuts timestamptz[];
    step interval;
    per timestamptz;
BEGIN
    IF p_grain IS NULL OR p_grain NOT IN ('day', 'month', 'none') THEN
        RAISE EXCEPTION 'invalid grain "%": expected day, month or none', p_grain
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_tz IS NULL OR NOT isfinite(p_from) OR NOT isfinite(p_to) THEN
        RAISE EXCEPTION 'the range and the time zone are required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from > p_to THEN
        RAISE EXCEPTION 'invalid range: % is after %', p_from, p_to USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT tally_on_grid(p_from) OR NOT tally_on_grid(p_to) THEN
        RAISE EXCEPTION 'invalid range: % to % is not on the 15-minute grid of the rollups', p_from, p_to
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM now() AT TIME ZONE p_tz; -- an unknown zone raises 22023 here
    IF p_from = p_to THEN
        RETURN;
    END IF;

    IF p_grain <> 'none' THEN
        step := ('1 ' || p_grain)::interval;
        SELECT array_agg(g AT TIME ZONE p_tz) INTO cuts
          FROM generate_series(date_trunc(p_grain, p_from AT TIME ZONE p_tz) + step,
                               p_to AT TIME ZONE p_tz, step) g;
    END IF;
    SELECT array_agg(DISTINCT t ORDER BY t) INTO cuts
      FROM (SELECT p_from UNION ALL SELECT p_to
            UNION ALL SELECT b FROM unnest(breaks) b WHERE b > p_from AND b < p_to
            UNION ALL SELECT x FROM unnest(cuts) x WHERE x > p_from AND x < p_to) c(t);
    IF EXISTS (SELECT 1 FROM unnest(cuts) t WHERE NOT tally_on_grid(t)) THEN
        RAISE EXCEPTION 'time zone "%" has a % boundary off the 15-minute grid in this range', p_tz, p_grain
            USING ERRCODE = 'invalid_parameter_value';
    END IF;

    FOR i IN 1 .. cardinality(cuts) - 1 LOOP
        per := CASE WHEN p_grain = 'none' THEN NULL
                    ELSE date_trunc(p_grain, cuts[i] AT TIME ZONE p_tz) AT TIME ZONE p_tz END;
        RETURN QUERY
            SELECT c.kind, c.lo, c.hi, c.sign, per,
                   coalesce((SELECT max(b) FROM unnest(breaks) b WHERE b <= c.lo),
                            breaks[1] - interval '15 minutes', timestamptz '2000-01-01 00:00+00')
              FROM tally_cost_cover(cuts[i], cuts[i + 1], breaks) c;
    END LOOP;
END
$$;

-- A timestamptz as an SQL literal that reads back the same under any DateStyle/TimeZone.
CREATE OR REPLACE FUNCTION tally_ts_sql(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN t IS NULL THEN 'NULL::timestamptz'
                ELSE quote_literal(to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || '::timestamptz' END
$$;
