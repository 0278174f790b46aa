-- Owns: the deliveries a retry went past on operations last retried before redriven_at (0025) was kept, and that time.
-- Why: 0028 marked an earlier end's deliveries by redriven_at, which those operations keep null: their deliveries
-- written before the retry could still be replayed, or sent on after the rerun's. Their history's `redriven` rows (kept
-- since 0011, indexed by 0020) say when they were last retried. Operations redriven since 0025 are left as they are:
-- their retries marked their deliveries, and times are not compared again where a mark already says it.
WITH last_redrive AS (
  SELECT h.operation_id, max(h.at) AS at
  FROM operation_history h JOIN operations o ON o.id = h.operation_id AND o.redriven_at IS NULL
  WHERE h.kind = 'redriven'
  GROUP BY h.operation_id
), marked AS (
  UPDATE deliveries d SET superseded = true
  FROM last_redrive r
  WHERE d.operation_id = r.operation_id AND d.state <> 'delivered' AND NOT d.superseded AND d.created_at < r.at
)
UPDATE operations o SET redriven_at = r.at FROM last_redrive r WHERE o.id = r.operation_id;
