-- Owns: the Idempotency-Key a schedule was created with (POST /schedules) and the fingerprint of the request that
-- created it, and the priority its ticks' operations take.
-- Why: a client that retries a create whose reply it lost must get the schedule it made, not a second one firing beside
-- it; a key is the tenant's while its schedule exists. A tick's operation ran at priority 0 whatever the tenant's ceiling
-- on priority; the priority is now the schedule's, checked against that ceiling when it is created. Schedules made before
-- this keep no key and priority 0, as their ticks had.
ALTER TABLE schedules ADD COLUMN idempotency_key text COLLATE "C";
ALTER TABLE schedules ADD COLUMN request_fingerprint text COLLATE "C";
ALTER TABLE schedules ADD COLUMN priority integer NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX schedules_idempotency ON schedules (tenant, idempotency_key) WHERE idempotency_key IS NOT NULL;
