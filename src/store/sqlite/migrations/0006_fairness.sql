-- Owns: what fair claims read and keep: each operation's concurrency key (''  for none, so one index serves the lanes
-- with and without a key), the pending operations by tenant and key in claim order, the running ones per key, and the
-- pass (stride scheduling's virtual time) of each tenant and of each key within a tenant.
-- Passes are written by claims alone; a claim clamps the ones it reads into the window stride scheduling keeps them in,
-- so one left behind (a tenant idle for a while, or alone, when claims write none) neither banks credit nor owes turns.

ALTER TABLE operations ADD COLUMN concurrency_key TEXT NOT NULL DEFAULT '';

-- Pending operations of a type per tenant, per key, in claim order: the tenants and keys with work (a walk that skips
-- from one to the next), and each one's next operations.
CREATE INDEX operations_fair ON operations (type, tenant, concurrency_key, priority DESC, run_at, id) WHERE status = 'pending';

-- Running operations per key (only those with one): the count a claim holds a key's limit to.
CREATE INDEX operations_key_running ON operations (type, tenant, concurrency_key) WHERE status = 'processing' AND concurrency_key <> '';

CREATE TABLE fair_tenants (
  type   TEXT NOT NULL,
  tenant TEXT NOT NULL,
  pass   REAL NOT NULL,
  PRIMARY KEY (type, tenant)
) STRICT, WITHOUT ROWID;

-- concurrency_key '': the tenant's operations without a key, which take their turns as one more key.
CREATE TABLE fair_keys (
  type            TEXT NOT NULL,
  tenant          TEXT NOT NULL,
  concurrency_key TEXT NOT NULL,
  pass            REAL NOT NULL,
  PRIMARY KEY (type, tenant, concurrency_key)
) STRICT, WITHOUT ROWID;
