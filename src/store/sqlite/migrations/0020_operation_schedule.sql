-- Owns: the schedule an operation was created by, and the index its list walks (GET /operations?schedule_id=…).
-- Why: a schedule keeps its last ticks only, so the operations of its earlier ticks could be told from its type's
-- others by nothing stored. No foreign key: an operation outlives a schedule deleted after it. The index is partial,
-- so a submitted operation's writes cost nothing more; a schedule belongs to one tenant, so it serves a tenant's list.
ALTER TABLE operations ADD COLUMN schedule_id TEXT;
CREATE INDEX operations_schedule_id ON operations (schedule_id, id DESC) WHERE schedule_id IS NOT NULL;
