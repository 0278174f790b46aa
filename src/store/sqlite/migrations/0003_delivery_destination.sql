-- Owns: each delivery's destination (its URL's origin, written by deliveries.ts), and a due index that carries it, so a
-- claim passes over the deliveries of destinations a dispatcher has at its cap without reading their rows.

ALTER TABLE deliveries ADD COLUMN destination TEXT;

-- Deliveries written before: scheme and host[:port] as written, lower-cased (a default port spelled out counts apart).
-- Delivered ones are never claimed again and keep none; reading them derives it from the URL.
UPDATE deliveries
SET destination = lower(substr(url, 1, instr(url, '://') + instr(substr(url, instr(url, '://') + 3) || '/', '/') + 1))
WHERE state <> 'delivered';

DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (next_attempt_at, id, destination) WHERE state IN ('pending', 'retrying');
