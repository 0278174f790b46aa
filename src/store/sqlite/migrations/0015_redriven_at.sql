-- Owns: when an operator last redrove an operation (redriven_at), set by a redrive and kept after it.
-- Why: a redrive starts a fresh run at attempt 1, and attempt 1 alone could not tell a redriven run from the first: the
-- redriven run's first attempt starts a trace of its own (linked to the creating one) instead of joining a trace that
-- may have ended hours before. Operations redriven before this keep null.
ALTER TABLE operations ADD COLUMN redriven_at INTEGER;
