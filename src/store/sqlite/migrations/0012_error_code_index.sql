-- Owns: the index an operator's list filtered by error code walks (GET /operations?error_code=…).
-- Why: without it, a list by error code walked the operations newest first and skipped every one without that code, the
-- whole table for a code that is rare or long past (bench/README.md, "Operator reads"). Only operations with an error
-- carry a code (failed, cancelled, and pending again after a failed attempt), so the index is partial: an operation
-- created, claimed and completed without an error never enters it, and its writes cost nothing more. A list by error
-- code names it (INDEXED BY): without statistics the planner may take a tenant's walk instead.
CREATE INDEX operations_error_code_id ON operations (error_code, id DESC) WHERE error_code IS NOT NULL;
