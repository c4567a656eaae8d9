-- 0010_ingest_gaps: messages the broker deleted before tally-ingest read them
-- (docs/architecture.md, "Losses").
--
-- A row is written in the transaction of the batch that revealed the gap: the first
-- message taken after a jump in a partition's offsets, when the jumped-over offsets lie
-- below the partition's low watermark (deleted by retention). last_event_before is the
-- event time of the last message stored from the partition before the gap (NULL when
-- none is known), first_event_after that of the message after it (NULL when it held no
-- event): the UTC months between them are incomplete.
CREATE TABLE ingest_gaps (
    consumer_group text NOT NULL,
    topic text NOT NULL,
    partition integer NOT NULL,
    first_offset bigint NOT NULL,
    last_offset bigint NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    last_event_before timestamptz,
    first_event_after timestamptz,
    PRIMARY KEY (consumer_group, topic, partition, first_offset),
    CHECK (last_offset >= first_offset)
);

-- the event time of the last message stored with next_offset: what a gap found on the
-- next batch records as last_event_before
ALTER TABLE ingest_offsets ADD COLUMN last_event_at timestamptz;
