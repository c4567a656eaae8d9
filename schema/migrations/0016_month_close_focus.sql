-- 0016_month_close_focus: a close keeps its FOCUS export too, and zones are stored by their
-- pg_timezone_names name (docs/architecture.md, "Month close"; issue 12 review).
--
-- focus: the exact bytes of GET /v1/exports/focus for the month as it was closed (layout 3,
-- unscoped, the close's book and zone), with its SHA-256, so that a FOCUS consumer reads the
-- closed month and the later Correction rows against the same figures. NULL for the closes
-- made before this migration (their FOCUS export stays recomputed, marked).
ALTER TABLE month_closes
    ADD COLUMN focus bytea,
    ADD COLUMN focus_sha256 text,
    ADD CONSTRAINT month_closes_focus_sha256 CHECK ((focus IS NULL) = (focus_sha256 IS NULL));

-- The snapshots are served in slices (substring, report/months.c): stored uncompressed, a
-- slice reads only its own TOAST chunks (compressed, every slice would decompress all the
-- bytes before it). Applies to the values stored from now on.
ALTER TABLE month_closes
    ALTER COLUMN csv SET STORAGE EXTERNAL,
    ALTER COLUMN json SET STORAGE EXTERNAL,
    ALTER COLUMN focus SET STORAGE EXTERNAL;

-- Zones were stored as typed; Postgres matches zone names case-insensitively, so
-- 'europe/paris' and 'Europe/Paris' were the same hours under two names. Store the name
-- pg_timezone_names gives, except where that would put two closes in force on one zone and
-- month (left for a person to reopen one of them: tallyctl months list shows both).
UPDATE month_closes c
   SET tz = k.name
  FROM (SELECT c2.id, z.name,
               count(*) FILTER (WHERE c2.reopened_at IS NULL)
                   OVER (PARTITION BY c2.month, z.name) AS in_force
          FROM month_closes c2 JOIN pg_timezone_names z ON lower(z.name) = lower(c2.tz)) k
 WHERE k.id = c.id AND c.tz <> k.name AND (c.reopened_at IS NOT NULL OR k.in_force = 1);
