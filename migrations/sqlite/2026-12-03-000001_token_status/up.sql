-- Token status (draft-ietf-oauth-status-list, docs/token-status.md).
--
-- A status list has a fixed capacity; an entry that is not in status_entries is VALID
-- and free. Each row is one generation of one keypair's tokens: `status` 0 VALID,
-- 1 INVALID (for good), 2 SUSPENDED (keypair disabled). A keypair has at most one
-- generation that is not INVALID (its current one: the partial unique index). Rows
-- have no foreign key to keypairs: an INVALID entry outlives its keypair until every
-- token that could carry it has expired, and then returns to the free pool.

CREATE TABLE status_lists (
    id TEXT PRIMARY KEY NOT NULL,
    capacity BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE status_entries (
    list_id TEXT NOT NULL REFERENCES status_lists (id),
    idx BIGINT NOT NULL,
    client_id TEXT NOT NULL,
    status SMALLINT NOT NULL,
    created_at BIGINT NOT NULL,
    invalidated_at BIGINT,
    PRIMARY KEY (list_id, idx),
    CHECK (status IN (0, 1, 2)),
    CHECK ((status = 1) = (invalidated_at IS NOT NULL))
);
CREATE UNIQUE INDEX status_entries_current ON status_entries (client_id) WHERE status <> 1;
CREATE INDEX status_entries_listing ON status_entries (list_id, status);

-- One row: moves on every status change, so that every process can tell cheaply
-- whether the lists it serves are stale.
CREATE TABLE status_version (
    id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO status_version (id, version) VALUES (1, 0);
