-- Owns: bulk actions (domain/bulk-action.ts): one row per action, which is its record (who asked, for which tenant,
-- the filter, the counts, when it ran) and its progress (the cursor a runner resumes after, under a lease so one runner
-- at a time works on it).
-- tenant NULL: an admin's action over every tenant. filter: the JSON filter as sent, with a retry's priority beside its fields (store/bulk-action-store.ts: filterColumn).

CREATE TABLE bulk_actions (
  id               TEXT PRIMARY KEY,
  action           TEXT NOT NULL CHECK (action IN ('retry', 'cancel', 'delete', 'replay_deliveries')),
  filter           TEXT NOT NULL,
  tenant           TEXT,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
  total            INTEGER NOT NULL,
  processed        INTEGER NOT NULL DEFAULT 0,
  succeeded        INTEGER NOT NULL DEFAULT 0,
  skipped          INTEGER NOT NULL DEFAULT 0,
  created_by       TEXT NOT NULL,
  created_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  error_code       TEXT,
  error_message    TEXT,
  cursor           TEXT,
  lease_token      TEXT,
  lease_expires_at INTEGER
) STRICT;

-- A runner's claim: the unfinished ones, oldest first.
CREATE INDEX bulk_actions_unfinished ON bulk_actions (created_at, id) WHERE status IN ('pending', 'processing');
-- Listing, newest first, per tenant and (an admin's) over all.
CREATE INDEX bulk_actions_tenant_id ON bulk_actions (tenant, id DESC);
