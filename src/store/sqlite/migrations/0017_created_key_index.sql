-- Owns: finding an operation by the Idempotency-Key that created it for as long as the operation is kept.
-- Why: a key lives 24 hours (idempotency_keys), a finished operation --retention (7 days by default), and the list's
-- `q` found an operation by its key only while the key lived. The key is on the operation's `created` history event,
-- kept with the operation: this index finds it there, one entry per operation created with a key.
CREATE INDEX operation_history_created_key ON operation_history (json_extract(data, '$.idempotency_key'))
  WHERE kind = 'created' AND json_extract(data, '$.idempotency_key') IS NOT NULL;
