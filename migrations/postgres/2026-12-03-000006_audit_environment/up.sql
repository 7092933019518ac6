-- Audit records name the environment they concern (NULL: none, or not known), so an
-- environment's audit trail can be listed: records of the environment itself, of its
-- keypairs, and of its administrators and invitations. Like account_id, no foreign
-- key: records outlive the environment they describe.
ALTER TABLE audit_records ADD COLUMN environment_id TEXT;

-- Backfill what can still be found: records whose target is an environment, one of
-- an environment's existing keypairs, or an invitation to an environment. Records of
-- keypairs deleted before this migration, and of removed bindings (whose target is
-- the person), stay without one; they remain in their account's trail.
UPDATE audit_records SET environment_id = target
    WHERE action IN ('environment.create', 'environment.close');
UPDATE audit_records SET environment_id = (
    SELECT k.environment_id FROM keypairs k WHERE k.client_id = audit_records.target
) WHERE environment_id IS NULL
    AND target IN (SELECT client_id FROM keypairs WHERE environment_id IS NOT NULL);
UPDATE audit_records SET environment_id = (
    SELECT i.environment_id FROM invitations i WHERE i.invitation_id = audit_records.target
) WHERE environment_id IS NULL
    AND target IN (SELECT invitation_id FROM invitations WHERE environment_id IS NOT NULL);

CREATE INDEX audit_records_environment ON audit_records (environment_id, at, id);
