-- Owns: what fair claims read and keep: each operation's concurrency key ('' for none, so one index serves the lanes
-- with and without a key), the pending operations by tenant and key in claim order, the running ones per key, and the
-- pass (stride scheduling's virtual time) of each tenant and of each key within a tenant.
-- Passes are written by claims alone; a claim clamps the ones it reads into the window stride scheduling keeps them in,
-- so one left behind (a tenant idle for a while, or alone, when claims write none) neither banks credit nor owes turns.
-- A key's limit holds across nodes because a claim counts its running operations under a transaction-scoped advisory
-- lock on the key (transitions-fair.ts), taken without waiting: a key another claim holds is passed over this time.

ALTER TABLE operations ADD COLUMN concurrency_key text NOT NULL DEFAULT '';

CREATE INDEX operations_fair ON operations (type, tenant, concurrency_key, priority DESC, run_at, id) WHERE status = 'pending';
CREATE INDEX operations_key_running ON operations (type, tenant, concurrency_key) WHERE status = 'processing' AND concurrency_key <> '';

CREATE TABLE fair_tenants (
  type   text NOT NULL,
  tenant text NOT NULL,
  pass   double precision NOT NULL,
  PRIMARY KEY (type, tenant)
);

CREATE TABLE fair_keys (
  type            text NOT NULL,
  tenant          text NOT NULL,
  concurrency_key text NOT NULL,
  pass            double precision NOT NULL,
  PRIMARY KEY (type, tenant, concurrency_key)
);
