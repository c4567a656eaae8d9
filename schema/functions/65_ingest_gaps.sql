-- Messages lost before ingestion (ingest_gaps, 0010; docs/architecture.md, "Losses"): what
-- the monthly report marks incomplete.

-- The UTC months a gap leaves incomplete: from the month of the last event stored before
-- it (else the first event after it) through the month of the first event after it (else
-- the month it was found in).
CREATE OR REPLACE FUNCTION tally_gap_months(g ingest_gaps, OUT m_start timestamptz, OUT m_end timestamptz)
LANGUAGE sql IMMUTABLE AS $$
SELECT date_trunc('month', coalesce(g.last_event_before, g.first_event_after, g.detected_at)
                           AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
       (date_trunc('month', coalesce(g.first_event_after, g.detected_at) AT TIME ZONE 'UTC')
        + interval '1 month') AT TIME ZONE 'UTC'
$$;

-- The gaps whose incomplete UTC months overlap the local month p_month of p_tz, oldest
-- first.
CREATE OR REPLACE FUNCTION tally_ingest_gaps(p_month text, p_tz text)
RETURNS TABLE (consumer_group text, topic text, "partition" integer, first_offset bigint,
               last_offset bigint, lost_messages bigint, detected_at timestamptz,
               last_event_before timestamptz, first_event_after timestamptz)
LANGUAGE sql STABLE AS $$
SELECT g.consumer_group, g.topic, g.partition, g.first_offset, g.last_offset,
       g.last_offset - g.first_offset + 1, g.detected_at, g.last_event_before, g.first_event_after
  FROM tally_month_range(p_month, p_tz) r, ingest_gaps g, tally_gap_months(g) m
 WHERE m.m_start < r.m_end AND m.m_end > r.m_start
 ORDER BY g.detected_at, g.consumer_group COLLATE "C", g.topic COLLATE "C", g.partition,
          g.first_offset
$$;

CREATE OR REPLACE VIEW reporting.ingest_gaps AS
SELECT consumer_group, topic, partition, first_offset, last_offset,
       last_offset - first_offset + 1 AS lost_messages, detected_at, last_event_before,
       first_event_after
  FROM ingest_gaps;
GRANT SELECT ON reporting.ingest_gaps TO tally_reader;
