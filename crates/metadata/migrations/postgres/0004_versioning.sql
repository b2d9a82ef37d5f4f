-- Bucket versioning. buckets.versioning: 0 unversioned, 1 enabled, 2 suspended. objects.seq
-- orders the versions of a key by commit (the latest has the greatest); rows written before
-- this migration are each the only (null) version of their key, so 0 orders them correctly.
-- Sequence numbers are assigned under the key's advisory lock: greater than every other
-- version of the key and at least the writer's clock, so that gateways writing one key
-- concurrently get distinct versions in commit order whatever their clocks say.
ALTER TABLE buckets ADD COLUMN versioning smallint NOT NULL DEFAULT 0;
ALTER TABLE objects ADD COLUMN seq bigint NOT NULL DEFAULT 0;
-- Version listings and promotions seek this index; object listings seek objects_visible, so
-- keys whose latest version is a delete marker cost them nothing.
CREATE INDEX objects_versions ON objects (bucket, key, seq DESC);
CREATE INDEX objects_visible ON objects (bucket, key) WHERE is_latest AND NOT is_delete_marker;

DROP FUNCTION s3gate_put_object(text, bytea, text, boolean, bigint, text, bigint, text, text,
    text, text, text, text, jsonb, smallint, text, bigint);
DROP FUNCTION s3gate_complete_upload(text, text, bytea, text, boolean, bigint, text, bigint,
    text, text, text, text, text, text, jsonb, smallint, text, bigint);
DROP FUNCTION s3gate_replace(text, bytea, text, boolean, bigint, text, bigint, text, text, text,
    text, text, text, jsonb, smallint, text);
DROP FUNCTION s3gate_delete_object(text, bytea, smallint, text, bigint);

-- Adds a version as the newest, latest one of its key; the caller holds the key's lock and has
-- checked the write's condition. p_cur_seq: the latest version's sequence number (NULL: no
-- version). Unless versioning is enabled (p_mode 1) the key's null version is replaced.
-- vid: the version id the write reports; removed: the blob ids of a replaced null version.
CREATE FUNCTION s3gate_add_version(
    p_mode smallint, p_cur_seq bigint,
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_now bigint, p_rand text,
    OUT vid text, OUT removed text[])
LANGUAGE plpgsql AS $$
DECLARE
    v_seq bigint;
    v_id text;
    old_parts jsonb;
BEGIN
    removed := '{}';
    v_seq := CASE WHEN p_cur_seq IS NULL THEN p_now ELSE greatest(p_now, p_cur_seq + 1) END;
    IF p_mode = 1 THEN
        v_id := lpad(to_hex(9223372036854775807 - v_seq), 16, '0') || p_rand;
    ELSE
        v_id := 'null';
        DELETE FROM objects o
        WHERE o.bucket = p_bucket AND o.key = p_key AND o.version_id = 'null'
        RETURNING o.parts INTO old_parts;
        IF FOUND THEN
            removed := ARRAY(SELECT p->>'b' FROM jsonb_array_elements(old_parts) p);
        END IF;
    END IF;
    UPDATE objects o SET is_latest = false
    WHERE o.bucket = p_bucket AND o.key = p_key AND o.is_latest;
    INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, size, etag,
        last_modified, owner, headers, tags, checksum_algorithm, checksum_type, checksum, parts,
        seq)
    VALUES (p_bucket, p_key, v_id, true, p_dm, p_size, p_etag, p_last_modified, p_owner,
        p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, v_seq);
    -- As AWS answers: an enabled bucket's new id; a suspended bucket's delete marker is null;
    -- other writes of unversioned and suspended buckets report none.
    vid := CASE WHEN p_mode = 1 OR (p_mode = 2 AND p_dm) THEN v_id END;
END
$$;

-- Commits a version as the latest after its condition, as the bucket's versioning state says;
-- leaves reference counting to the caller (removed: the replaced null version's blob ids).
CREATE FUNCTION s3gate_commit_version(
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    OUT status text, OUT replaced boolean, OUT removed text[], OUT vid text)
LANGUAGE plpgsql AS $$
DECLARE
    v_mode smallint;
    cur record;
    found_cur boolean;
    r record;
BEGIN
    replaced := false;
    removed := '{}';
    SELECT b.versioning INTO v_mode FROM buckets b WHERE b.name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
    SELECT o.is_delete_marker, o.etag, o.seq INTO cur
    FROM objects o WHERE o.bucket = p_bucket AND o.key = p_key AND o.is_latest;
    found_cur := FOUND;
    status := s3gate_check(p_cond, p_cond_etag,
        CASE WHEN found_cur AND NOT cur.is_delete_marker THEN cur.etag END);
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    SELECT * INTO r FROM s3gate_add_version(v_mode, CASE WHEN found_cur THEN cur.seq END,
        p_bucket, p_key, p_dm, p_size, p_etag, p_last_modified, p_owner, p_headers, p_tags,
        p_ca, p_ct, p_cs, p_parts, p_now, p_rand);
    replaced := found_cur;
    removed := r.removed;
    vid := r.vid;
END
$$;

CREATE FUNCTION s3gate_put_object(
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM s3gate_commit_version(p_bucket, p_key, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag, p_now, p_rand);
    status := r.status;
    replaced := r.replaced;
    vid := r.vid;
    retired := '{}';
    IF status = 'ok' THEN
        retired := s3gate_apply(ARRAY(SELECT p->>'b' FROM jsonb_array_elements(p_parts) p),
            r.removed, p_now);
    END IF;
END
$$;

CREATE FUNCTION s3gate_complete_upload(
    p_upload_id text,
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
DECLARE
    upload_key bytea;
    r record;
BEGIN
    replaced := false;
    retired := '{}';
    SELECT u.key INTO upload_key FROM uploads u
    WHERE u.bucket = p_bucket AND u.upload_id = p_upload_id FOR UPDATE;
    IF NOT FOUND OR upload_key <> p_key THEN
        status := 'NoSuchUpload';
        RETURN;
    END IF;
    SELECT * INTO r FROM s3gate_commit_version(p_bucket, p_key, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag, p_now, p_rand);
    status := r.status;
    replaced := r.replaced;
    vid := r.vid;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    retired := s3gate_apply(
        ARRAY(SELECT p->>'b' FROM jsonb_array_elements(p_parts) p),
        r.removed || ARRAY(SELECT up.blob_id FROM upload_parts up
                           WHERE up.bucket = p_bucket AND up.upload_id = p_upload_id),
        p_now);
    DELETE FROM uploads u WHERE u.bucket = p_bucket AND u.upload_id = p_upload_id;
END
$$;

-- DeleteObject. p_version_id NULL: remove the current version (unversioned bucket) or add a
-- delete marker (versioned: a new id when enabled, the null version when suspended); else
-- remove exactly that version and, if it was the latest, promote the next newest.
CREATE FUNCTION s3gate_delete_object(
    p_bucket text, p_key bytea, p_version_id text, p_cond smallint, p_cond_etag text,
    p_owner text, p_last_modified bigint, p_now bigint, p_rand text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text, OUT dm boolean)
LANGUAGE plpgsql AS $$
DECLARE
    v_mode smallint;
    cur record;
    found_cur boolean;
    gone record;
    r record;
BEGIN
    replaced := false;
    retired := '{}';
    dm := false;
    SELECT b.versioning INTO v_mode FROM buckets b WHERE b.name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
    SELECT o.is_delete_marker, o.etag, o.seq INTO cur
    FROM objects o WHERE o.bucket = p_bucket AND o.key = p_key AND o.is_latest;
    found_cur := FOUND;
    status := s3gate_check(p_cond, p_cond_etag,
        CASE WHEN found_cur AND NOT cur.is_delete_marker THEN cur.etag END);
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    IF p_version_id IS NOT NULL THEN
        vid := p_version_id;
        DELETE FROM objects o
        WHERE o.bucket = p_bucket AND o.key = p_key AND o.version_id = p_version_id
        RETURNING o.is_latest, o.is_delete_marker, o.parts INTO gone;
        IF NOT FOUND THEN
            RETURN;
        END IF;
        replaced := true;
        dm := gone.is_delete_marker;
        IF gone.is_latest THEN
            UPDATE objects o SET is_latest = true
            WHERE o.bucket = p_bucket AND o.key = p_key AND o.seq = (SELECT max(x.seq)
                FROM objects x WHERE x.bucket = p_bucket AND x.key = p_key);
        END IF;
        retired := s3gate_apply('{}',
            ARRAY(SELECT p->>'b' FROM jsonb_array_elements(gone.parts) p), p_now);
    ELSIF v_mode = 0 THEN
        IF NOT found_cur THEN
            RETURN;
        END IF;
        DELETE FROM objects o WHERE o.bucket = p_bucket AND o.key = p_key AND o.is_latest
        RETURNING o.parts INTO gone;
        replaced := true;
        retired := s3gate_apply('{}',
            ARRAY(SELECT p->>'b' FROM jsonb_array_elements(gone.parts) p), p_now);
    ELSE
        SELECT * INTO r FROM s3gate_add_version(v_mode, CASE WHEN found_cur THEN cur.seq END,
            p_bucket, p_key, true, 0, '', p_last_modified, p_owner, '[]', '[]', NULL, NULL,
            NULL, '[]'::jsonb, p_now, p_rand);
        replaced := found_cur;
        dm := true;
        vid := r.vid;
        retired := s3gate_apply('{}', r.removed, p_now);
    END IF;
END
$$;

-- PutBucketVersioning: 1 enabled, 2 suspended; 0 (unversioned) only while never versioned.
CREATE FUNCTION s3gate_set_versioning(p_name text, p_mode smallint, OUT status text)
LANGUAGE plpgsql AS $$
DECLARE
    v_mode smallint;
BEGIN
    SELECT b.versioning INTO v_mode FROM buckets b WHERE b.name = p_name FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
    ELSIF p_mode = 0 THEN
        status := CASE WHEN v_mode = 0 THEN 'ok' ELSE 'Conflict' END;
    ELSE
        UPDATE buckets b SET versioning = p_mode WHERE b.name = p_name;
        status := 'ok';
    END IF;
END
$$;
