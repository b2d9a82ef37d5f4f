-- ACLs (issue 19): a version's ACL, in the server's serialization. NULL is the owner's
-- private ACL, so existing rows stay valid.
--
-- The writes wrap the existing functions as 0006 and 0007 do: the wrapped function commits
-- the row and the wrapper sets the ACL in the same transaction, so no version is ever visible
-- without its ACL. A rename (0009) gives the new version the owner's private ACL (NULL), as
-- the other stores do.
ALTER TABLE objects ADD COLUMN acl text;
-- What an upload's object gets at completion.
ALTER TABLE uploads ADD COLUMN acl text;

CREATE FUNCTION s3gate_put_object_acl(
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text, p_lock text, p_acl text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_put_object_locked(p_bucket, p_key, p_dm, p_size, p_etag, p_last_modified,
        p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond, p_cond_etag, p_now,
        p_rand, p_enc, p_lock) r;
    IF status = 'ok' AND p_acl IS NOT NULL THEN
        UPDATE objects SET acl = p_acl
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

CREATE FUNCTION s3gate_complete_upload_acl(
    p_upload_id text,
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text, p_lock text, p_acl text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_complete_upload_locked(p_upload_id, p_bucket, p_key, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag, p_now, p_rand, p_enc, p_lock) r;
    IF status = 'ok' AND p_acl IS NOT NULL THEN
        UPDATE objects SET acl = p_acl
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

-- PutObjectAcl: replace the ACL of one version under the key's lock, touching nothing else.
-- p_version_id NULL addresses the current version.
CREATE FUNCTION s3gate_set_object_acl(
    p_bucket text, p_key bytea, p_version_id text, p_acl text,
    OUT status text, OUT version_id text)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM buckets WHERE name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
    UPDATE objects o SET acl = p_acl
    WHERE o.bucket = p_bucket AND o.key = p_key AND NOT o.is_delete_marker
        AND (o.version_id = p_version_id OR (p_version_id IS NULL AND o.is_latest))
    RETURNING o.version_id INTO version_id;
    status := CASE WHEN FOUND THEN 'ok' ELSE 'NoSuchKey' END;
END
$$;
