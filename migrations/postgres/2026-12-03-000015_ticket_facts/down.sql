DROP TRIGGER ticket_facts_fold ON ticket_events;
DROP TRIGGER ticket_facts_follow ON tickets;
DROP TRIGGER ticket_facts_start ON tickets;
DROP FUNCTION ticket_facts_fold();
DROP FUNCTION ticket_facts_follow();
DROP FUNCTION ticket_facts_start();
DROP TABLE ticket_facts;
