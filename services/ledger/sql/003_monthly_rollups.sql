-- Monthly rollups of sealed months, so a report over a year reads about twelve rows per key
-- and model (or group and model) instead of 365. A month is sealed (sealing.py) once it is
-- over in every school's time: its daily rows are summed into these tables once, and
-- `rollup_seal.sealed_before` moves past it. A request that arrives later for a sealed day
-- (a gateway's spool after a long outage, a replay) is added to both, in the same
-- transaction (store.py), so a report reads months before `sealed_before` here and every
-- other day from the daily rollups, and the sums stay exact. Months are of school days.
CREATE TABLE monthly_usage (
    month date NOT NULL,
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
    PRIMARY KEY (key_id, month, model)
);
CREATE INDEX monthly_usage_school ON monthly_usage (school_id, month);
CREATE INDEX monthly_usage_group ON monthly_usage (group_id, month) WHERE group_id IS NOT NULL;
CREATE INDEX monthly_usage_user ON monthly_usage (user_id, month);
CREATE INDEX monthly_usage_month ON monthly_usage (month);

CREATE TABLE monthly_group_usage (
    month date NOT NULL,
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
);
CREATE UNIQUE INDEX monthly_group_usage_key
    ON monthly_group_usage (school_id, month, group_id, model) NULLS NOT DISTINCT;
CREATE INDEX monthly_group_usage_month ON monthly_group_usage (month);

-- One row: days before `sealed_before` (a first of a month) are in the monthly rollups.
CREATE TABLE rollup_seal (
    one boolean PRIMARY KEY DEFAULT true CHECK (one),
    sealed_before date NOT NULL
);
INSERT INTO rollup_seal (sealed_before) VALUES ('0001-01-01');
