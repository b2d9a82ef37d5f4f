-- Users, groups and identity policies (issue 19). A user has several access keys: the key
-- columns move from users to access_keys. Changes of these tables are short transactions of
-- the admin path (s3gate user|group|policy ...), not functions: no request writes them, except
-- access_keys.last_used, written at most once a minute per key in one batched statement.
CREATE TABLE access_keys (
    access_key_id text COLLATE "C" PRIMARY KEY,
    user_name text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    secret_key text NOT NULL,
    active boolean NOT NULL,
    created bigint NOT NULL,
    last_used bigint
);
INSERT INTO access_keys (access_key_id, user_name, secret_key, active, created)
    SELECT access_key_id, name, secret_key, true, created FROM users;
ALTER TABLE users DROP COLUMN access_key_id, DROP COLUMN secret_key;
CREATE INDEX access_keys_by_user ON access_keys (user_name, created, access_key_id);

CREATE TABLE iam_groups (
    name text COLLATE "C" PRIMARY KEY,
    created bigint NOT NULL
);
CREATE TABLE group_members (
    group_name text COLLATE "C" NOT NULL REFERENCES iam_groups (name) ON DELETE CASCADE,
    user_name text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_name)
);
CREATE INDEX group_members_by_user ON group_members (user_name, group_name);
-- Stored (customer managed) policies; built-in policies are no rows, but may be attached.
CREATE TABLE iam_policies (
    name text COLLATE "C" PRIMARY KEY,
    document text NOT NULL,
    created bigint NOT NULL
);
CREATE TABLE user_policies (
    user_name text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
    policy text COLLATE "C" NOT NULL,
    PRIMARY KEY (user_name, policy)
);
CREATE TABLE group_policies (
    group_name text COLLATE "C" NOT NULL REFERENCES iam_groups (name) ON DELETE CASCADE,
    policy text COLLATE "C" NOT NULL,
    PRIMARY KEY (group_name, policy)
);
CREATE INDEX user_policies_by_policy ON user_policies (policy);
CREATE INDEX group_policies_by_policy ON group_policies (policy);
-- Users created before identity policies keep what they could do: create buckets and list
-- their own (the built-in self-service policy), as `s3gate user add` gives new users.
INSERT INTO user_policies (user_name, policy) SELECT name, 'self-service' FROM users WHERE NOT is_root;
