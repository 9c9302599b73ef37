-- Days in the school's time zone: each raw request and chat carries the school's local day
-- (computed at ingest from the school's zone in KEYS), and the rollups are keyed on it, so a
-- request at 00:30 in Amsterdam counts on that day, not on the UTC day before. Rollup rows
-- written before this migration keep their UTC days.
ALTER TABLE requests ADD COLUMN day date;
ALTER TABLE chats ADD COLUMN created_day date;

-- The per-request log pages newest first (at, request_id); these answer its first page
-- without sorting, for one school, one key, or everything an administrator sees.
CREATE INDEX requests_school_at ON requests (school_id, at);
CREATE INDEX requests_key_at ON requests (key_id, at);
CREATE INDEX requests_at ON requests (at);

-- The same per school and day only: a year of a school's (or every school's) daily series
-- reads a few hundred rows, however many groups, models and students there are.
CREATE TABLE daily_school_usage (
    day date NOT NULL,
    school_id text NOT NULL,
    requests bigint NOT NULL DEFAULT 0,
    prompt_tokens bigint NOT NULL DEFAULT 0,
    completion_tokens bigint NOT NULL DEFAULT 0,
    cached_tokens bigint NOT NULL DEFAULT 0,
    cost_micro_usd bigint NOT NULL DEFAULT 0,
    chats bigint NOT NULL DEFAULT 0,
    first_at timestamptz,
    last_at timestamptz,
    PRIMARY KEY (school_id, day)
) WITH (fillfactor = 80);
