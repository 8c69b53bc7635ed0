-- The event log: every change to a task is an event, written in the same
-- transaction as the change (a transactional outbox), then published to the
-- bus by the relay. See docs/events.md.

-- The last seq handed out per user. The row lock it takes serializes one
-- user's events, so seq follows commit order with no gaps (a rolled-back
-- change gives its number back).
CREATE TABLE event_seqs (
    user_id text PRIMARY KEY,
    seq     bigint NOT NULL
);

CREATE TABLE event_log (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id       uuid NOT NULL UNIQUE,
    event_type     text NOT NULL,
    user_id        text NOT NULL,
    aggregate_id   text NOT NULL,
    seq            bigint NOT NULL,
    "timestamp"    timestamptz NOT NULL DEFAULT date_trunc('milliseconds', now()),
    correlation_id text,
    data           jsonb NOT NULL,
    version        integer NOT NULL DEFAULT 1,
    published_at   timestamptz,
    UNIQUE (user_id, seq)
);
CREATE INDEX event_log_unpublished_idx ON event_log (id) WHERE published_at IS NULL;

-- Immutable: no DELETE or TRUNCATE, and the only UPDATE is the relay marking
-- an event published.
CREATE FUNCTION event_log_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF OLD.published_at IS NULL AND NEW.published_at IS NOT NULL
           AND to_jsonb(NEW) - 'published_at' = to_jsonb(OLD) - 'published_at' THEN
            RETURN NEW;
        END IF;
    END IF;
    RAISE EXCEPTION 'event_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER event_log_guard BEFORE UPDATE OR DELETE ON event_log
    FOR EACH ROW EXECUTE FUNCTION event_log_guard();
CREATE TRIGGER event_log_no_truncate BEFORE TRUNCATE ON event_log
    FOR EACH STATEMENT EXECUTE FUNCTION event_log_guard();

-- The relay is woken with NOTIFY taskflow_events, sent by the server after a
-- commit rather than by a trigger inside it: a NOTIFY inside a transaction
-- serializes every committing transaction on one lock until its WAL flush.

-- What each consumer has handled, so a redelivered event has no second effect.
CREATE TABLE event_receipts (
    consumer    text NOT NULL,
    event_id    uuid NOT NULL,
    user_id     text NOT NULL,
    seq         bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
