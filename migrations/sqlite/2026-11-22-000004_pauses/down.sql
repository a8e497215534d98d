DROP TABLE ticket_pauses;
