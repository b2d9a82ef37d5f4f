-- s3gate metadata schema for PostgreSQL, version 1.
--
-- Times are nanoseconds since the Unix epoch (bigint), as in the SQLite store, so that records
-- round-trip exactly. Object keys are bytea: S3 keys may hold NUL, which text cannot, and bytea
-- compares as memcmp, i.e. UTF-8 byte order, S3's listing order. Other ordered text columns use
-- COLLATE "C" (byte order) so that no locale changes an order.
--
-- Every write of the MetadataStore trait is one call of one function below: one statement, one
-- implicit transaction, one round trip. Writers of one key are serialised by a transaction-level
-- advisory lock on the (bucket, key) hash, so conditional writes are atomic across gateways;
-- rows of `blobs` are updated in blob id order so that concurrent writes cannot deadlock on them.

CREATE TABLE users (
    name text COLLATE "C" PRIMARY KEY,
    access_key_id text COLLATE "C" NOT NULL UNIQUE,
    secret_key text NOT NULL,
    is_root boolean NOT NULL,
    created bigint NOT NULL
);

CREATE TABLE buckets (
    name text COLLATE "C" PRIMARY KEY,
    owner text COLLATE "C" NOT NULL,
    region text NOT NULL,
    created bigint NOT NULL
);
CREATE INDEX buckets_by_owner ON buckets (owner, name);

-- One row per object version; an object's data pieces are a jsonb array of
-- {"n": part number, "b": blob id, "o": offset, "s": size, "e": etag, "c": checksum}.
CREATE TABLE objects (
    bucket text COLLATE "C" NOT NULL REFERENCES buckets (name),
    key bytea NOT NULL,
    version_id text COLLATE "C" NOT NULL,
    is_latest boolean NOT NULL,
    is_delete_marker boolean NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    last_modified bigint NOT NULL,
    owner text NOT NULL,
    headers text NOT NULL,
    tags text NOT NULL,
    checksum_algorithm text,
    checksum_type text,
    checksum text,
    parts jsonb NOT NULL,
    PRIMARY KEY (bucket, key, version_id)
);
-- Listings and lookups of current versions seek this index.
CREATE UNIQUE INDEX objects_latest ON objects (bucket, key) WHERE is_latest;

CREATE TABLE uploads (
    bucket text COLLATE "C" NOT NULL REFERENCES buckets (name),
    upload_id text COLLATE "C" NOT NULL,
    key bytea NOT NULL,
    initiated bigint NOT NULL,
    owner text NOT NULL,
    headers text NOT NULL,
    tags text NOT NULL,
    checksum_algorithm text,
    checksum_type text,
    PRIMARY KEY (bucket, upload_id)
);
CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated, upload_id);

CREATE TABLE upload_parts (
    bucket text COLLATE "C" NOT NULL,
    upload_id text COLLATE "C" NOT NULL,
    part_number integer NOT NULL,
    blob_id text COLLATE "C" NOT NULL,
    blob_offset bigint NOT NULL,
    size bigint NOT NULL,
    etag text NOT NULL,
    checksum text,
    last_modified bigint NOT NULL,
    PRIMARY KEY (bucket, upload_id, part_number),
    FOREIGN KEY (bucket, upload_id) REFERENCES uploads (bucket, upload_id) ON DELETE CASCADE
);

-- refs counts object and upload parts naming the blob; retired_at is set when it drops to 0.
CREATE TABLE blobs (
    blob_id text COLLATE "C" PRIMARY KEY,
    refs bigint NOT NULL,
    retired_at bigint
);
CREATE INDEX blobs_retired ON blobs (retired_at, blob_id) WHERE retired_at IS NOT NULL;

-- Read leases of gateways: a gateway streaming or copying a blob records it here (renewed
-- while it holds it); no gateway's collector forgets a blob with an unexpired lease.
CREATE TABLE blob_leases (
    blob_id text COLLATE "C" NOT NULL,
    holder text COLLATE "C" NOT NULL,
    expires_at bigint NOT NULL,
    PRIMARY KEY (blob_id, holder)
);
CREATE INDEX blob_leases_by_holder ON blob_leases (holder);

-- The advisory lock serialising writers of one key.
CREATE FUNCTION s3gate_key_lock(p_bucket text, p_key bytea) RETURNS bigint
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT hashtextextended(p_bucket || '/' || encode(sha256(p_key), 'hex'), 0)
$$;

-- 'ok', or the error a write condition gives against the current ETag (NULL: no current
-- version). p_cond: 0 none, 1 If-None-Match: *, 2 If-Match: p_etag.
CREATE FUNCTION s3gate_check(p_cond smallint, p_etag text, p_current text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_cond = 0 THEN 'ok'
        WHEN p_cond = 1 THEN CASE WHEN p_current IS NULL THEN 'ok' ELSE 'PreconditionFailed' END
        WHEN p_current IS NULL THEN 'NoSuchKey'
        WHEN p_current = p_etag THEN 'ok'
        ELSE 'PreconditionFailed'
    END
$$;

-- Applies reference changes (one +1 per added id, one -1 per removed id, netted per blob),
-- in blob id order; returns the blobs retired (reference count now 0), in id order.
CREATE FUNCTION s3gate_apply(p_added text[], p_removed text[], p_now bigint) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    v_retired text[];
    v_min bigint;
BEGIN
    WITH d AS (
        SELECT b AS blob_id, sum(n)::bigint AS n
        FROM (SELECT unnest(p_added) AS b, 1 AS n
              UNION ALL SELECT unnest(p_removed), -1) x
        GROUP BY b HAVING sum(n) <> 0
    ), u AS (
        INSERT INTO blobs AS t (blob_id, refs, retired_at)
        SELECT blob_id, n, NULL FROM d ORDER BY blob_id
        ON CONFLICT (blob_id) DO UPDATE SET
            refs = t.refs + excluded.refs,
            retired_at = CASE
                WHEN t.refs + excluded.refs > 0 THEN NULL
                WHEN t.refs > 0 THEN p_now
                ELSE t.retired_at
            END
        RETURNING t.blob_id, t.refs
    )
    SELECT array_agg(blob_id ORDER BY blob_id) FILTER (WHERE refs = 0), min(refs)
    INTO v_retired, v_min FROM u;
    IF v_min < 0 THEN
        RAISE EXCEPTION 'blob reference count went negative';
    END IF;
    RETURN coalesce(v_retired, '{}');
END
$$;

-- Commits a version as the current one after its condition; leaves reference counting to the
-- caller (status, whether a version was replaced, and the replaced version's blob ids).
CREATE FUNCTION s3gate_replace(
    p_bucket text, p_key bytea, p_version_id text, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text,
    OUT status text, OUT replaced boolean, OUT removed text[])
LANGUAGE plpgsql AS $$
DECLARE
    cur record;
    found_cur boolean;
BEGIN
    replaced := false;
    removed := '{}';
    PERFORM 1 FROM buckets WHERE name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
    SELECT is_delete_marker, etag, parts INTO cur
    FROM objects WHERE bucket = p_bucket AND key = p_key AND is_latest;
    found_cur := FOUND;
    status := s3gate_check(p_cond, p_cond_etag,
        CASE WHEN found_cur AND NOT cur.is_delete_marker THEN cur.etag END);
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    IF found_cur THEN
        DELETE FROM objects WHERE bucket = p_bucket AND key = p_key AND is_latest;
        removed := ARRAY(SELECT p->>'b' FROM jsonb_array_elements(cur.parts) p);
        replaced := true;
    END IF;
    INSERT INTO objects (bucket, key, version_id, is_latest, is_delete_marker, size, etag,
        last_modified, owner, headers, tags, checksum_algorithm, checksum_type, checksum, parts)
    VALUES (p_bucket, p_key, p_version_id, true, p_dm, p_size, p_etag, p_last_modified, p_owner,
        p_headers, p_tags, p_ca, p_ct, p_cs, p_parts);
END
$$;

CREATE FUNCTION s3gate_put_object(
    p_bucket text, p_key bytea, p_version_id text, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint,
    OUT status text, OUT replaced boolean, OUT retired text[])
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM s3gate_replace(p_bucket, p_key, p_version_id, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag);
    status := r.status;
    replaced := r.replaced;
    retired := '{}';
    IF status = 'ok' THEN
        retired := s3gate_apply(ARRAY(SELECT p->>'b' FROM jsonb_array_elements(p_parts) p),
            r.removed, p_now);
    END IF;
END
$$;

CREATE FUNCTION s3gate_delete_object(
    p_bucket text, p_key bytea, p_cond smallint, p_cond_etag text, p_now bigint,
    OUT status text, OUT replaced boolean, OUT retired text[])
LANGUAGE plpgsql AS $$
DECLARE
    cur record;
BEGIN
    replaced := false;
    retired := '{}';
    PERFORM 1 FROM buckets WHERE name = p_bucket FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(s3gate_key_lock(p_bucket, p_key));
    SELECT is_delete_marker, etag, parts INTO cur
    FROM objects WHERE bucket = p_bucket AND key = p_key AND is_latest;
    IF NOT FOUND THEN
        status := s3gate_check(p_cond, p_cond_etag, NULL);
        RETURN;
    END IF;
    status := s3gate_check(p_cond, p_cond_etag,
        CASE WHEN cur.is_delete_marker THEN NULL ELSE cur.etag END);
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    DELETE FROM objects WHERE bucket = p_bucket AND key = p_key AND is_latest;
    replaced := true;
    retired := s3gate_apply('{}',
        ARRAY(SELECT p->>'b' FROM jsonb_array_elements(cur.parts) p), p_now);
END
$$;

CREATE FUNCTION s3gate_put_part(
    p_bucket text, p_upload_id text, p_part_number integer, p_blob_id text, p_offset bigint,
    p_size bigint, p_etag text, p_checksum text, p_last_modified bigint, p_now bigint,
    OUT status text, OUT replaced boolean, OUT retired text[])
LANGUAGE plpgsql AS $$
DECLARE
    old_blob text;
BEGIN
    replaced := false;
    retired := '{}';
    PERFORM 1 FROM uploads WHERE bucket = p_bucket AND upload_id = p_upload_id FOR KEY SHARE;
    IF NOT FOUND THEN
        status := 'NoSuchUpload';
        RETURN;
    END IF;
    PERFORM pg_advisory_xact_lock(
        hashtextextended(p_bucket || '/' || p_upload_id || '#' || p_part_number, 1));
    SELECT blob_id INTO old_blob FROM upload_parts
    WHERE bucket = p_bucket AND upload_id = p_upload_id AND part_number = p_part_number;
    replaced := FOUND;
    INSERT INTO upload_parts (bucket, upload_id, part_number, blob_id, blob_offset, size, etag,
        checksum, last_modified)
    VALUES (p_bucket, p_upload_id, p_part_number, p_blob_id, p_offset, p_size, p_etag,
        p_checksum, p_last_modified)
    ON CONFLICT (bucket, upload_id, part_number) DO UPDATE SET
        blob_id = excluded.blob_id, blob_offset = excluded.blob_offset, size = excluded.size,
        etag = excluded.etag, checksum = excluded.checksum,
        last_modified = excluded.last_modified;
    retired := s3gate_apply(ARRAY[p_blob_id],
        CASE WHEN old_blob IS NULL THEN '{}'::text[] ELSE ARRAY[old_blob] END, p_now);
    status := 'ok';
END
$$;

CREATE FUNCTION s3gate_complete_upload(
    p_upload_id text,
    p_bucket text, p_key bytea, p_version_id text, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint,
    OUT status text, OUT replaced boolean, OUT retired text[])
LANGUAGE plpgsql AS $$
DECLARE
    upload_key bytea;
    r record;
BEGIN
    replaced := false;
    retired := '{}';
    SELECT key INTO upload_key FROM uploads
    WHERE bucket = p_bucket AND upload_id = p_upload_id FOR UPDATE;
    IF NOT FOUND OR upload_key <> p_key THEN
        status := 'NoSuchUpload';
        RETURN;
    END IF;
    SELECT * INTO r FROM s3gate_replace(p_bucket, p_key, p_version_id, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag);
    status := r.status;
    replaced := r.replaced;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    retired := s3gate_apply(
        ARRAY(SELECT p->>'b' FROM jsonb_array_elements(p_parts) p),
        r.removed || ARRAY(SELECT blob_id FROM upload_parts
                           WHERE bucket = p_bucket AND upload_id = p_upload_id),
        p_now);
    DELETE FROM uploads WHERE bucket = p_bucket AND upload_id = p_upload_id;
END
$$;

CREATE FUNCTION s3gate_abort_upload(p_bucket text, p_upload_id text, p_now bigint,
    OUT status text, OUT retired text[])
LANGUAGE plpgsql AS $$
BEGIN
    retired := '{}';
    PERFORM 1 FROM uploads WHERE bucket = p_bucket AND upload_id = p_upload_id FOR UPDATE;
    IF NOT FOUND THEN
        status := 'NoSuchUpload';
        RETURN;
    END IF;
    retired := s3gate_apply('{}',
        ARRAY(SELECT blob_id FROM upload_parts
              WHERE bucket = p_bucket AND upload_id = p_upload_id),
        p_now);
    DELETE FROM uploads WHERE bucket = p_bucket AND upload_id = p_upload_id;
    status := 'ok';
END
$$;

CREATE FUNCTION s3gate_delete_bucket(p_name text, p_now bigint,
    OUT status text, OUT retired text[])
LANGUAGE plpgsql AS $$
BEGIN
    retired := '{}';
    PERFORM 1 FROM buckets WHERE name = p_name FOR UPDATE;
    IF NOT FOUND THEN
        status := 'NoSuchBucket';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM objects WHERE bucket = p_name) THEN
        status := 'BucketNotEmpty';
        RETURN;
    END IF;
    retired := s3gate_apply('{}',
        ARRAY(SELECT blob_id FROM upload_parts WHERE bucket = p_name), p_now);
    DELETE FROM uploads WHERE bucket = p_name;
    DELETE FROM buckets WHERE name = p_name;
    status := 'ok';
END
$$;
