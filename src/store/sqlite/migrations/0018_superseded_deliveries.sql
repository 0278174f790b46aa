-- Owns: marking the deliveries of an operation's earlier end that a retry went past.
-- Why: sent on, or replayed, the earlier end's event would reach its receiver after the rerun's (a different
-- webhook-id, so de-duplicating does not help). The retry marks them in its transaction: one not yet through ends dead,
-- one in flight records its attempt and goes no further, and none is replayed. A mark on the row, not a comparison of
-- the retry's time with the delivery's, which two nodes' clocks would get wrong.
ALTER TABLE deliveries ADD COLUMN superseded INTEGER NOT NULL DEFAULT 0;
-- Those an earlier version's retries went past, as well as times tell once: a delivery written before its operation was
-- last retried. The undelivered among them end dead at the next lease recovery, which reads them from this index.
UPDATE deliveries SET superseded = 1
  WHERE state <> 'delivered' AND EXISTS (SELECT 1 FROM operations o WHERE o.id = deliveries.operation_id AND o.redriven_at > deliveries.created_at);
CREATE INDEX deliveries_superseded_undelivered ON deliveries (id) WHERE superseded = 1 AND state IN ('pending', 'retrying');
