DROP TABLE project_events;
DROP FUNCTION project_events_append_only;
DROP TABLE project_milestones;
DROP TABLE projects;
DROP TABLE resource_communities;
DROP TABLE resources;
DROP TABLE need_tickets;
DROP TABLE needs;
