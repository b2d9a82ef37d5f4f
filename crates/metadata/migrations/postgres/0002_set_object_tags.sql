-- PutObjectTagging: replace the tags of one version under the key's lock, touching nothing
-- else. p_version_id NULL addresses the current version.
CREATE FUNCTION s3gate_set_object_tags(
    p_bucket text, p_key bytea, p_version_id text, p_tags text,
    OUT status text, OUT version_id text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM buckets WHERE name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
    UPDATE objects o SET tags = p_tags
    WHERE o.bucket = p_bucket AND o.key = p_key AND NOT o.is_delete_marker
        AND (o.version_id = p_version_id OR (p_version_id IS NULL AND o.is_latest))
    RETURNING o.version_id INTO version_id;
    status := CASE WHEN FOUND THEN 'ok' ELSE 'NoSuchKey' END;
END
$$;
