-- A claimed ticket has left the pool: only its holder sees it from then on.
UPDATE tickets SET in_pool = FALSE WHERE in_pool AND partner_id IS NOT NULL;
