-- Every metered request updates its key's row of the day in daily_usage, and a batch of the
-- ledger touches about one row per event (one per key, day and model). With 20 % of each
-- page free (fillfactor 80) 21-43 % of those updates found no room on the row's own page in
-- the ingest benchmark and its statement probe: a new version elsewhere, written into all
-- five indexes. With half of each page free every update stays HOT (the new version on the
-- same page, no index write): PostgreSQL's CPU per event fell by 15-25 % (docs/benchmarks.md,
-- issue 14). Applies to pages written from now on. Rows written once (a bulk load) take 1.6
-- times the pages; rows updated all day by ingest took fewer (no dead versions elsewhere).
ALTER TABLE daily_usage SET (fillfactor = 50);
