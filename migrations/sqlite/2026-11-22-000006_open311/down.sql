DROP TABLE category_attributes;
DROP TABLE org_unit_geo;
DROP TABLE open311_requests;
DROP TABLE open311_keys;
