-- Raw requests are keyed (at, request_id) instead of (request_id, at): the same columns, so
-- idempotency is exactly as before, but new rows now land at the right edge of the key's
-- B-tree (requests arrive roughly in time order) instead of at a random leaf per request id,
-- and the key itself walks the per-request log newest first (ORDER BY at DESC, request_id
-- DESC), so the separate index on `at` goes: one index fewer for every request written.
ALTER TABLE requests DROP CONSTRAINT requests_pkey;
ALTER TABLE requests ADD PRIMARY KEY (at, request_id);
DROP INDEX requests_at;
