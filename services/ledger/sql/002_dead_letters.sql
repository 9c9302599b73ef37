-- USAGE messages the ledger could not store (PostgreSQL refused them, or they could not be
-- read): kept here, byte for byte, so one bad event never blocks the stream and an operator
-- sees it (GET /dead-letters, the ledger_usage_events{outcome="dead_letter"} counter).
CREATE TABLE dead_letters (
    sequence bigint PRIMARY KEY,   -- the message's sequence in USAGE
    subject text NOT NULL,
    payload bytea NOT NULL,
    error text NOT NULL,
    dead_at timestamptz NOT NULL DEFAULT now()
);
