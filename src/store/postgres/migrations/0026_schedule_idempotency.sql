-- Owns: the Idempotency-Key a schedule was created with (POST /schedules), and the fingerprint of the request that
-- created it. Why: a client that retries a create whose reply it lost must get the schedule it made, not a second one
-- firing beside it. A key is the tenant's while its schedule exists; schedules made before this, and without a key,
-- keep null.
ALTER TABLE schedules ADD COLUMN idempotency_key text COLLATE "C";
ALTER TABLE schedules ADD COLUMN request_fingerprint text COLLATE "C";
CREATE UNIQUE INDEX schedules_idempotency ON schedules (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
