-- A bucket's configuration documents (CORS, policy, encryption, ...), one per kind, deleted
-- with the bucket.
CREATE TABLE bucket_configs (
    bucket text COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
    kind text COLLATE "C" NOT NULL,
    document text NOT NULL,
    PRIMARY KEY (bucket, kind)
);
