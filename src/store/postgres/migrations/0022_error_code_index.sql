-- Owns: the indexes an operator's list filtered by error code walks (GET /operations?error_code=…): every tenant's
-- (an admin's) and one tenant's.
-- Why: without them, a list by error code walked the operations newest first and skipped every one without that code,
-- the whole table for a code that is rare or long past (bench/README.md, "Operator reads"). Only operations with an
-- error carry a code (failed, cancelled, and a retry's while it waits and runs), so both are partial: an operation
-- created, claimed and completed without an error never enters them, and its writes cost nothing more. A tenant's has
-- its own, so that a small tenant's list by a code common elsewhere does not walk every tenant's operations with it.
CREATE INDEX operations_error_code_id ON operations (error_code, id DESC) WHERE error_code IS NOT NULL;
CREATE INDEX operations_tenant_error_code_id ON operations (tenant, error_code, id DESC) WHERE error_code IS NOT NULL;
