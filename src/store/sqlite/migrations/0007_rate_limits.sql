-- Owns: the execution rate limits' token buckets (domain/rate-limit.ts), one row per task type, shared by every worker
-- on the database: tokens as of updated_at, and a hold (no starts before held_until; 0: none) that a handler's
-- RateLimitedError sets. `bucket_key` is '' for the type's own bucket (room for one per concurrency key).
-- A row is written on the first claim or hold of its type; a missing row is a full bucket.

CREATE TABLE rate_limits (
  type TEXT NOT NULL,
  bucket_key TEXT NOT NULL DEFAULT '',
  tokens REAL NOT NULL,
  updated_at INTEGER NOT NULL,
  held_until INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (type, bucket_key)
) STRICT, WITHOUT ROWID;
