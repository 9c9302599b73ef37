-- Every metered request updates its key's row of the day in daily_usage, and a batch of the
-- ledger touches about one row per event (one per key, day and model). With 20 % of each
-- page free (fillfactor 80) about 43 % of those updates found no room on the row's own page
-- in the ingest benchmark: a new version elsewhere, written into all five indexes. With half
-- of each page free every update stays HOT (the new version on the same page, no index
-- write): PostgreSQL's CPU per event fell by about a quarter (docs/benchmarks.md, issue 14).
-- Applies to pages written from now on; the table grows about 1.6 times for the same rows.
ALTER TABLE daily_usage SET (fillfactor = 50);
