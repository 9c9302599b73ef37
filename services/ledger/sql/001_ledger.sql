-- The usage ledger. Raw requests are partitioned by month (the service creates partitions
-- ahead and drops those older than its retention); reports read only the small tables.

-- One row per metered request. PostgreSQL requires the partition key in every unique index,
-- so the idempotency key is (request_id, at): a RequestMetered is re-sent byte for byte
-- (spool, redelivery, replay), so one request_id always comes with the same `at`.
CREATE TABLE requests (
    request_id uuid NOT NULL,
    at timestamptz NOT NULL,
    key_id uuid NOT NULL,
    user_id text NOT NULL,
    school_id text NOT NULL,
    group_id text,
    model text NOT NULL,
    chat_id uuid,
    prompt_tokens bigint NOT NULL,
    completion_tokens bigint NOT NULL,
    cached_tokens bigint NOT NULL,
    cost_micro_usd bigint NOT NULL,
    estimated boolean NOT NULL,
    status integer NOT NULL,
    stream boolean NOT NULL,
    latency_ms bigint NOT NULL,
    gateway_id text NOT NULL,
    PRIMARY KEY (request_id, at)
) PARTITION BY RANGE (at);

-- A chat's requests (the only report that reads raw rows, bounded by the chat's activity).
CREATE INDEX requests_chat ON requests (chat_id, at) WHERE chat_id IS NOT NULL;

-- A chat, created by ChatCreated or by its first request (whichever arrives first);
-- `created_at` is set once ChatCreated arrived, which makes that event idempotent.
CREATE TABLE chats (
    chat_id uuid PRIMARY KEY,
    key_id uuid NOT NULL,
    user_id text NOT NULL,
    school_id text NOT NULL,
    group_id text,
    model text NOT NULL,
    title text,
    created_at timestamptz,
    requests bigint NOT NULL DEFAULT 0,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cached_tokens bigint NOT NULL DEFAULT 0,
    cost_micro_usd bigint NOT NULL DEFAULT 0,
    first_at timestamptz,
    last_at timestamptz
);
CREATE INDEX chats_key ON chats (key_id, last_at);

-- Daily rollup (UTC days) per key and model; a key's user, school and group never change
-- (KeyIssued fixes them), so they ride along as attributes for the reports' filters.
CREATE TABLE daily_usage (
    day date NOT NULL,
    key_id uuid NOT NULL,
    model text NOT NULL,
    user_id text NOT NULL,
    school_id text NOT NULL,
    group_id text,
    requests bigint NOT NULL DEFAULT 0,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cached_tokens bigint NOT NULL DEFAULT 0,
    cost_micro_usd bigint NOT NULL DEFAULT 0,
    chats bigint NOT NULL DEFAULT 0,
    first_at timestamptz,
    last_at timestamptz,
    PRIMARY KEY (key_id, day, model)
) WITH (fillfactor = 80);  -- room on the page: rollup updates stay HOT (no index writes)
CREATE INDEX daily_usage_school ON daily_usage (school_id, day);
CREATE INDEX daily_usage_group ON daily_usage (group_id, day) WHERE group_id IS NOT NULL;
CREATE INDEX daily_usage_user ON daily_usage (user_id, day);
CREATE INDEX daily_usage_day ON daily_usage (day);

-- The same per school, group and model, without keys and users: its size does not grow
-- with the number of students, so school, group, model and day reports stay fast.
CREATE TABLE daily_group_usage (
    day date NOT NULL,
    school_id text NOT NULL,
    group_id text,
    model text NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cached_tokens bigint NOT NULL DEFAULT 0,
    cost_micro_usd bigint NOT NULL DEFAULT 0,
    chats bigint NOT NULL DEFAULT 0,
    first_at timestamptz,
    last_at timestamptz
) WITH (fillfactor = 80);
CREATE UNIQUE INDEX daily_group_usage_key
    ON daily_group_usage (school_id, day, group_id, model) NULLS NOT DISTINCT;
CREATE INDEX daily_group_usage_day ON daily_group_usage (day);
