-- Storage classes (issue 22): a version's class, in its row. NULL is STANDARD, so existing
-- rows stay valid. Which tier holds the data is told by each part's blob id, not by this.
--
-- The writes wrap the 0010 functions as 0010 wraps 0007: the wrapped function commits the row
-- and the wrapper sets the class in the same transaction, so no version is ever visible with
-- another class than it was written with. A rename (0009) copies the row, class included.
ALTER TABLE objects ADD COLUMN storage_class text;
-- What an upload's object gets at completion (and the tier its parts are written to).
ALTER TABLE uploads ADD COLUMN storage_class text;

CREATE FUNCTION s3gate_put_object_class(
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text, p_lock text, p_acl text, p_class text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_put_object_acl(p_bucket, p_key, p_dm, p_size, p_etag, p_last_modified,
        p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond, p_cond_etag, p_now,
        p_rand, p_enc, p_lock, p_acl) r;
    IF status = 'ok' AND p_class IS NOT NULL THEN
        UPDATE objects SET storage_class = p_class
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

CREATE FUNCTION s3gate_complete_upload_class(
    p_upload_id text,
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text, p_lock text, p_acl text, p_class text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_complete_upload_acl(p_upload_id, p_bucket, p_key, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag, p_now, p_rand, p_enc, p_lock, p_acl) r;
    IF status = 'ok' AND p_class IS NOT NULL THEN
        UPDATE objects SET storage_class = p_class
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

-- RenameObject keeps the version's class, as its data stays where it is (0009 copies the row
-- through s3gate_put_object_locked, which knows no class). The source's class is read under
-- both keys' locks, before the rename; a replayed token changes nothing, so it sets nothing.
CREATE FUNCTION s3gate_rename_object_class(
    p_bucket text, p_src bytea, p_key bytea, p_src_cond smallint, p_src_etag text,
    p_cond smallint, p_cond_etag text, p_lock text, p_owner text, p_at bigint,
    p_token text, p_ttl bigint, p_now bigint, p_rand text, p_rand_marker text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
DECLARE
    cls text;
    replay boolean := false;
BEGIN
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, least(p_src, p_key)));
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, greatest(p_src, p_key)));
    IF p_token IS NOT NULL THEN
        replay := EXISTS (SELECT 1 FROM rename_tokens t WHERE t.bucket = p_bucket
            AND t.token = p_token AND t.created_at > p_at - p_ttl);
    END IF;
    SELECT o.storage_class INTO cls FROM objects o
    WHERE o.bucket = p_bucket AND o.key = p_src AND o.is_latest;
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_rename_object(p_bucket, p_src, p_key, p_src_cond, p_src_etag, p_cond,
        p_cond_etag, p_lock, p_owner, p_at, p_token, p_ttl, p_now, p_rand, p_rand_marker) r;
    IF status = 'ok' AND NOT replay AND cls IS NOT NULL THEN
        UPDATE objects SET storage_class = cls
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;
