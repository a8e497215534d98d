DROP TABLE project_events;
DROP TABLE project_milestones;
DROP TABLE projects;
DROP TABLE resource_communities;
DROP TABLE resources;
DROP TABLE need_tickets;
DROP TABLE needs;
