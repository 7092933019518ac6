DROP TABLE status_version;
DROP TABLE status_entries;
DROP TABLE status_lists;
