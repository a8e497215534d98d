DROP TRIGGER ticket_facts_fold;
DROP TRIGGER ticket_facts_follow;
DROP TRIGGER ticket_facts_start;
DROP TABLE ticket_facts;
