-- The outbox becomes a table of its own: a row per event not yet published,
-- written in the event's statement and deleted once the bus acknowledged it.
-- Marking published_at in event_log rewrote every event once more (a new row
-- version and an entry in each of its indexes, as the partial index's column
-- changed), which cost about a third of the write capacity under load.
-- event_log is now never updated at all.

CREATE TABLE event_outbox (
    id bigint PRIMARY KEY -- event_log.id
) WITH (
    -- A queue: rows live for milliseconds. Vacuum it by the thousand deleted
    -- rows, not by a fraction of a size that is near zero.
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 2000,
    -- Truncating the heap's empty tail takes a lock that stops every write
    -- (and the vacuum waits for it, up to seconds); the space is reused anyway.
    vacuum_truncate = false
);
INSERT INTO event_outbox (id) SELECT id FROM event_log WHERE published_at IS NULL;

DROP INDEX event_log_unpublished_idx;
ALTER TABLE event_log DROP COLUMN published_at;

-- Immutable: no UPDATE, DELETE or TRUNCATE.
CREATE OR REPLACE FUNCTION event_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'event_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
