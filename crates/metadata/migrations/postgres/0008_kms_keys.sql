-- The named keys of the built-in KMS (SSE-KMS, issue 21), shared by every gateway on this
-- database: material is the key wrapped by a master key. Aliases are unique; NULL (no alias)
-- may repeat.
CREATE TABLE kms_keys (
    key_id text PRIMARY KEY,
    alias text UNIQUE,
    description text NOT NULL,
    enabled boolean NOT NULL,
    created bigint NOT NULL,
    material bytea NOT NULL
);
