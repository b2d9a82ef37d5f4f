-- Server-side encryption (issue 21): the record of an encrypted object or upload, and the salt
-- of each encrypted upload part (an object's parts carry theirs in the parts jsonb as "k").
-- NULL is plaintext, so existing rows stay valid.
--
-- The writes that store them wrap the existing functions: the wrapped function commits the
-- row, and the wrapper sets the new column in the same transaction (one call, one round trip),
-- so no version or part is ever visible without its encryption record. The version written is
-- the one whose id the wrapped function reports (vid; NULL for the null version, which an
-- unversioned or suspended bucket writes).
ALTER TABLE objects ADD COLUMN encryption text;
ALTER TABLE uploads ADD COLUMN encryption text;
ALTER TABLE upload_parts ADD COLUMN salt text;

CREATE FUNCTION s3gate_put_object_sealed(
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_put_object(p_bucket, p_key, p_dm, p_size, p_etag, p_last_modified, p_owner,
        p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond, p_cond_etag, p_now, p_rand) r;
    IF status = 'ok' AND p_enc IS NOT NULL THEN
        UPDATE objects SET encryption = p_enc
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

CREATE FUNCTION s3gate_complete_upload_sealed(
    p_upload_id text,
    p_bucket text, p_key bytea, p_dm boolean, p_size bigint, p_etag text,
    p_last_modified bigint, p_owner text, p_headers text, p_tags text, p_ca text, p_ct text,
    p_cs text, p_parts jsonb, p_cond smallint, p_cond_etag text, p_now bigint, p_rand text,
    p_enc text,
    OUT status text, OUT replaced boolean, OUT retired text[], OUT vid text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired, r.vid INTO status, replaced, retired, vid
    FROM s3gate_complete_upload(p_upload_id, p_bucket, p_key, p_dm, p_size, p_etag,
        p_last_modified, p_owner, p_headers, p_tags, p_ca, p_ct, p_cs, p_parts, p_cond,
        p_cond_etag, p_now, p_rand) r;
    IF status = 'ok' AND p_enc IS NOT NULL THEN
        UPDATE objects SET encryption = p_enc
        WHERE bucket = p_bucket AND key = p_key AND version_id = coalesce(vid, 'null');
    END IF;
END
$$;

CREATE FUNCTION s3gate_put_part_sealed(
    p_bucket text, p_upload_id text, p_part_number integer, p_blob_id text, p_offset bigint,
    p_size bigint, p_etag text, p_checksum text, p_last_modified bigint, p_now bigint,
    p_salt text,
    OUT status text, OUT replaced boolean, OUT retired text[])
LANGUAGE plpgsql AS $$
BEGIN
    SELECT r.status, r.replaced, r.retired INTO status, replaced, retired
    FROM s3gate_put_part(p_bucket, p_upload_id, p_part_number, p_blob_id, p_offset, p_size,
        p_etag, p_checksum, p_last_modified, p_now) r;
    IF status = 'ok' THEN
        UPDATE upload_parts SET salt = p_salt
        WHERE bucket = p_bucket AND upload_id = p_upload_id AND part_number = p_part_number;
    END IF;
END
$$;
