-- Same schema as the PostgreSQL store; see migrations/postgres.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    stream          TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    event_id        BLOB    NOT NULL UNIQUE,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    causation_id    BLOB,
    correlation_id  BLOB,
    occurred_at     INTEGER NOT NULL,
    payload         BLOB    NOT NULL,
    UNIQUE (stream, version)
);

CREATE TABLE streams (
    stream  TEXT    PRIMARY KEY,
    version INTEGER NOT NULL
);

CREATE TABLE log_head (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
INSERT INTO log_head (id, position) VALUES (1, 0);

CREATE TABLE outbox_cursor (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    position INTEGER NOT NULL
);
INSERT INTO outbox_cursor (id, position) VALUES (1, 0);

CREATE TABLE processed (
    consumer TEXT    NOT NULL,
    source   TEXT    NOT NULL,
    position INTEGER NOT NULL,
    PRIMARY KEY (consumer, source, position)
);

-- Durable consumers of the in-process bus: everything up to `floor` is acked.
CREATE TABLE bus_consumers (
    name  TEXT    PRIMARY KEY,
    floor INTEGER NOT NULL
);
