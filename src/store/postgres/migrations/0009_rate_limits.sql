-- Owns: the execution rate limits' token buckets (domain/rate-limit.ts), one row per task type, shared by every node:
-- tokens as of updated_at, and a hold (no starts before held_until; 0: none) that a handler's RateLimitedError sets.
-- `bucket_key` is '' for the type's own bucket (room for one per concurrency key). A claim takes tokens under the row's
-- lock, so concurrent claimers never start more than the bucket holds. A missing row is a full bucket.

CREATE TABLE rate_limits (
  type       text NOT NULL,
  bucket_key text NOT NULL DEFAULT '',
  tokens     double precision NOT NULL,
  updated_at bigint NOT NULL,
  held_until bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (type, bucket_key)
);
