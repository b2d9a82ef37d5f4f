-- Object lock (issue 18): a version's retention and legal hold, and what an upload's object
-- gets at completion, in the form ObjectLock::to_column writes: 'MODE UNTIL HOLD' (MODE
-- GOVERNANCE, COMPLIANCE or '-'; UNTIL nanoseconds since the epoch or '-'; HOLD ON or OFF).
-- NULL is no lock, so existing rows stay valid.
--
-- The writes wrap the existing functions as 0006 does: the wrapped function commits the row
-- and the wrapper sets the lock in the same transaction, so no version is ever visible
-- without its lock. Deleting a version by id checks the lock under the key's lock first.
ALTER TABLE objects ADD COLUMN object_lock text;
ALTER TABLE uploads ADD COLUMN object_lock text;

-- Whether a version's lock blocks its deletion at p_now (nanoseconds, the gateway's clock):
-- a legal hold, a compliance retention in force, or a governance one in force without bypass.
-- The same rule as ObjectLock::blocks_delete.
CREATE FUNCTION s3gate_lock_blocks_delete(p_lock text, p_now bigint, p_bypass boolean)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT p_lock IS NOT NULL AND (
        split_part(p_lock, ' ', 3) = 'ON'
        OR (split_part(p_lock, ' ', 2) <> '-'
            AND split_part(p_lock, ' ', 2)::numeric > p_now
            AND (split_part(p_lock, ' ', 1) = 'COMPLIANCE' OR NOT p_bypass)))
$$;

CREATE FUNCTION s3gate_put_object_locked(
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text, p_lock text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_put_object_sealed(p_bucket, p_key, p_dm, p_size, p_etag, p_last_modified,
        p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond, p_cond_etag, p_now,
        p_rand, p_enc) r;
    IF status = 'ok' AND p_lock IS NOT NULL THEN
        UPDATE objects SET object_lock = p_lock
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

CREATE FUNCTION s3gate_complete_upload_locked(
    p_upload_id text,
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text, p_lock text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_complete_upload_sealed(p_upload_id, p_bucket, p_key, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag, p_now, p_rand, p_enc) r;
    IF status = 'ok' AND p_lock IS NOT NULL THEN
        UPDATE objects SET object_lock = p_lock
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

-- s3gate_delete_object, refusing ('ObjectLocked') a delete by version id of a version whose
-- lock blocks it at p_lock_now. The key's lock is taken first (advisory locks nest within a
-- transaction), so no write of the key can slip between the check and the delete.
CREATE FUNCTION s3gate_delete_object_locked(
    p_bucket text, p_key bytea, p_version_id text, p_cond smallint, p_cond_etag text,
    p_owner text, p_last_modified bigint, p_now bigint, p_rand text,
    p_lock_now bigint, p_bypass boolean,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text, OUT dm boolean)
LANGUAGE plpgsql AS $$
BEGIN
    IF p_version_id IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
        PERFORM 1 FROM objects o
        WHERE o.bucket = p_bucket AND o.key = p_key AND o.version_id = p_version_id
            AND s3gate_lock_blocks_delete(o.object_lock, p_lock_now, p_bypass);
        IF FOUND THEN
            status := 'ObjectLocked';
            replaced := false;
            retired := '{}';
            RETURN;
        END IF;
    END IF;
    SELECT r.status, r.replaced, r.retired, r.vid, r.dm INTO status, replaced, retired, vid, dm
    FROM s3gate_delete_object(p_bucket, p_key, p_version_id, p_cond, p_cond_etag, p_owner,
        p_last_modified, p_now, p_rand) r;
END
$$;
