-- Owns: bulk actions (domain/bulk-action.ts): one row per action, which is its record (who asked, for which tenant,
-- the filter, the counts, when it ran) and its progress (the cursor a runner resumes after, under a lease so one runner
-- at a time works on it).
-- tenant NULL: an admin's action over every tenant. filter: the JSON filter as sent, with a retry's priority beside its fields (store/bulk-action-store.ts: filterColumn).

CREATE TABLE bulk_actions (
  id               text PRIMARY KEY,
  action           text NOT NULL CHECK (action IN ('retry', 'cancel', 'delete', 'replay_deliveries')),
  filter           text NOT NULL,
  tenant           text,
  status           text NOT NULL CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
  total            integer NOT NULL,
  processed        integer NOT NULL DEFAULT 0,
  succeeded        integer NOT NULL DEFAULT 0,
  skipped          integer NOT NULL DEFAULT 0,
  created_by       text NOT NULL,
  created_at       bigint NOT NULL,
  started_at       bigint,
  finished_at      bigint,
  error_code       text,
  error_message    text,
  cursor           text,
  lease_token      text,
  lease_expires_at bigint
);

-- A runner's claim: the unfinished ones, oldest first.
CREATE INDEX bulk_actions_unfinished ON bulk_actions (created_at, id) WHERE status IN ('pending', 'processing');
-- Listing, newest first, per tenant and (an admin's) over all.
CREATE INDEX bulk_actions_tenant_id ON bulk_actions (tenant, id DESC);
