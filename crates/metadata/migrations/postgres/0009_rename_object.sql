-- RenameObject (issue 15): the current version of a source key becomes the current version of
-- another key of the bucket, in one transaction and without copying a blob; the source is then
-- deleted as a DeleteObject without a version id deletes. A client token records a committed
-- rename for p_ttl nanoseconds so that a retry is answered as the rename it repeats.
CREATE TABLE rename_tokens (
    bucket text COLLATE "C" NOT NULL REFERENCES buckets (name) ON DELETE CASCADE,
    token text NOT NULL,
    source_key bytea NOT NULL,
    key bytea NOT NULL,
    version_id text,
    created_at bigint NOT NULL,
    PRIMARY KEY (bucket, token)
);
CREATE INDEX rename_tokens_by_age ON rename_tokens (bucket, created_at);

-- status: ok, NoSuchBucket, NoSuchKey (no current source, or a delete marker; or an If-Match
-- destination that does not exist), PreconditionFailed, IdempotencyMismatch. replayed: the
-- token's earlier rename was answered and nothing changed.
CREATE FUNCTION s3gate_rename_object(
    p_bucket text, p_src bytea, p_key bytea, p_src_cond smallint, p_src_etag text,
    p_cond smallint, p_cond_etag text, p_lock text, p_owner text, p_at bigint,
    p_token text, p_ttl bigint, p_now bigint, p_rand text, p_rand_marker text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
DECLARE
    src record;
    tok record;
    put record;
    del record;
BEGIN
    replaced := false;
    retired := '{}';
    PERFORM 1 FROM buckets b WHERE b.name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    -- Both keys' locks, always in key order, so that crossing renames cannot deadlock; the
    -- functions called below take them again (advisory locks nest within a transaction).
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, least(p_src, p_key)));
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, greatest(p_src, p_key)));
    DELETE FROM rename_tokens t WHERE t.bucket = p_bucket AND t.created_at <= p_at - p_ttl;
    IF p_token IS NOT NULL THEN
        SELECT t.source_key, t.key, t.version_id INTO tok
        FROM rename_tokens t WHERE t.bucket = p_bucket AND t.token = p_token;
        IF FOUND THEN
            IF tok.source_key = p_src AND tok.key = p_key THEN
                status := 'ok';
                vid := tok.version_id;
            ELSE
                status := 'IdempotencyMismatch';
            END IF;
            RETURN;
        END IF;
    END IF;
    SELECT o.* INTO src FROM objects o
    WHERE o.bucket = p_bucket AND o.key = p_src AND o.is_latest;
    IF NOT FOUND OR src.is_delete_marker THEN
        status := 'NoSuchKey';
        RETURN;
    END IF;
    status := s3gate_check(p_src_cond, p_src_etag, src.etag);
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    SELECT * INTO put FROM s3gate_put_object_locked(p_bucket, p_key, false, src.size, src.etag,
        src.last_modified, src.owner, src.headers, src.tags, src.checksum_algorithm,
        src.checksum_type, src.checksum, src.parts, p_cond, p_cond_etag, p_now, p_rand,
        src.encryption, p_lock);
    IF put.status <> 'ok' THEN
        status := put.status;
        RETURN;
    END IF;
    SELECT * INTO del FROM s3gate_delete_object(p_bucket, p_src, NULL, 0::smallint, NULL,
        p_owner, p_at, p_now, p_rand_marker);
    IF del.status <> 'ok' THEN
        RAISE EXCEPTION 's3gate_rename_object: deleting the source answered %', del.status;
    END IF;
    IF p_token IS NOT NULL THEN
        INSERT INTO rename_tokens (bucket, token, source_key, key, version_id, created_at)
        VALUES (p_bucket, p_token, p_src, p_key, put.vid, p_at);
    END IF;
    replaced := put.replaced;
    retired := put.retired || del.retired;
    vid := put.vid;
END
$$;
