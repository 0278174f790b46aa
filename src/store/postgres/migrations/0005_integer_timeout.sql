-- Owns: timeout_s as whole seconds, as SQLite keeps it and as the API and defineTask accept it (a fraction is refused).
-- A fraction stored before is rounded up, so no attempt gets less time than it was given. The type change rewrites the
-- table under an exclusive lock, once.

ALTER TABLE operations ALTER COLUMN timeout_s TYPE integer USING ceil(timeout_s)::integer;
