DROP TABLE users;
DROP TABLE partner_categories;
DROP TABLE partner_communities;
DROP TABLE partners;
DROP TABLE sla_policies;
DROP TABLE categories;
DROP TABLE org_unit_emails;
DROP TABLE org_units;
