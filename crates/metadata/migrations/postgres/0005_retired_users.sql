-- Names of removed users, never given to a new user: a name is the user's identity (buckets,
-- objects and uploads are owned by it, bucket policies and ACLs name it), so a new user of a
-- removed user's name would inherit all of it.
CREATE TABLE retired_users (
    name text COLLATE "C" PRIMARY KEY
);
