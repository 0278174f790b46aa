-- Owns: the deliveries a retry went past on operations last retried before redriven_at (0015) was kept, and that time.
-- Why: 0018 marked an earlier end's deliveries by redriven_at, which those operations keep null: their deliveries
-- written before the retry could still be replayed, or sent on after the rerun's. Their history's `redriven` rows (kept
-- since 0009) say when they were last retried. Operations redriven since 0015 are left as they are: their retries
-- marked their deliveries, and times are not compared again where a mark already says it.
UPDATE deliveries SET superseded = 1
  WHERE state <> 'delivered' AND superseded = 0 AND created_at < (
    SELECT max(h.at) FROM operations o JOIN operation_history h ON h.operation_id = o.id AND h.kind = 'redriven'
    WHERE o.id = deliveries.operation_id AND o.redriven_at IS NULL);
UPDATE operations SET redriven_at = (SELECT max(h.at) FROM operation_history h WHERE h.operation_id = operations.id AND h.kind = 'redriven')
  WHERE redriven_at IS NULL AND id IN (SELECT operation_id FROM operation_history WHERE kind = 'redriven');
