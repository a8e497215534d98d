DROP TABLE contact_reads;
DROP INDEX tickets_closed_idx;
DROP TABLE ticket_redactions;
