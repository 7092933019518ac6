DROP TABLE sessions;
DROP TABLE invitations;
DROP TABLE role_bindings;
DROP TABLE users;
