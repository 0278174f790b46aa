-- Owns: each delivery's destination (its URL's origin, written by deliveries.ts), which a claim passes over while the
-- dispatcher claiming has that destination at its cap.
-- Adding a column without a default rewrites nothing; the backfill touches only deliveries still to be sent.

ALTER TABLE deliveries ADD COLUMN destination text;

-- Deliveries written before: scheme and host[:port] as written, lower-cased (a default port spelled out counts apart).
-- Delivered ones are never claimed again and keep none; reading them derives it from the URL.
UPDATE deliveries SET destination = lower(substring(url from '^[^:/?#]+://[^/?#]*')) WHERE state <> 'delivered';
