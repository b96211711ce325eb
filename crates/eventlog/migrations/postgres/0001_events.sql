-- The append-only event log of one service. Positions are allocated from
-- log_head under its row lock, so they are gapless and in commit order.
CREATE TABLE events (
    position        BIGINT      PRIMARY KEY,
    stream          TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    event_id        UUID        NOT NULL UNIQUE,
    event_type      TEXT        NOT NULL,
    schema_version  INT         NOT NULL,
    causation_id    UUID,
    correlation_id  UUID,
    occurred_at     BIGINT      NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    payload         BYTEA       NOT NULL,
    UNIQUE (stream, version)
);

-- Current version of every stream: the compare-and-set target of appends.
CREATE TABLE streams (
    stream  TEXT   PRIMARY KEY,
    version BIGINT NOT NULL
);

-- One row: the last allocated position.
CREATE TABLE log_head (
    id       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT  NOT NULL
);
INSERT INTO log_head (position) VALUES (0);

-- One row: everything up to `position` is confirmed stored by the bus.
CREATE TABLE outbox_cursor (
    id       BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    position BIGINT  NOT NULL
);
INSERT INTO outbox_cursor (position) VALUES (0);

-- Source positions a consumer has handled, written in the same transaction as
-- the handler's effects: a redelivered event is recognised and skipped.
CREATE TABLE processed (
    consumer TEXT   NOT NULL,
    source   TEXT   NOT NULL,
    position BIGINT NOT NULL,
    PRIMARY KEY (consumer, source, position)
);
