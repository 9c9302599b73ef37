-- The event store: the keys service's only source of truth, and its audit log.
CREATE TABLE events (
    -- Global order for followers (the relay). Assigned under a table lock, see store.py.
    position    bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    stream_id   text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    event_id    uuid        NOT NULL UNIQUE,
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    -- Optimistic concurrency: two writers at the same version cannot both commit.
    PRIMARY KEY (stream_id, version)
);

CREATE TABLE relay_checkpoints (
    name     text   PRIMARY KEY,
    position bigint NOT NULL
);
