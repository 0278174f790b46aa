-- Owns: the version an operation's end made (finished_version), kept with the end and cleared by a redrive.
-- Why: after its end an operation's version still moves with each new state of its webhook (its resource shows it), so
-- "the client has the last version" does not tell whether a reconnecting event stream has seen the end; with this, one
-- that has it is told to stop (204) however the webhook has moved since. Operations ended before this keep null.
ALTER TABLE operations ADD COLUMN finished_version INTEGER;
