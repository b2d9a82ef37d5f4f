#!/usr/bin/env python3
"""boto3 versioning scenario (issue 17), run by tests/e2e/clients.rs (environment: see lib.sh).

Enable, overwrite, delete (a marker), restore an old version by copy, list versions with the
paginator over more than 1,000 versions and with a delimiter, suspend (the null version is
replaced, older versions stay), permanent deletes by version id, and an unknown version id.
"""

import os
import sys

import boto3
import botocore
from botocore.config import Config

ENDPOINT = os.environ["S3_ENDPOINT"]
BUCKET = os.environ["S3_BUCKET"] + "-versions"


def step(what):
    print(f"--- {what}", flush=True)


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")
    print(f"    ok: {what}", flush=True)


def client_error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    return None


def body(s3, key, **kw):
    return s3.get_object(Bucket=BUCKET, Key=key, **kw)["Body"].read()


def all_versions(s3, **kw):
    """Every version and marker, through boto3's own paginator."""
    versions, markers, prefixes, pages = [], [], [], 0
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, **kw):
        pages += 1
        versions += page.get("Versions", [])
        markers += page.get("DeleteMarkers", [])
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    return versions, markers, prefixes, pages


def main():
    print(f"--- version: boto3 {boto3.__version__} botocore {botocore.__version__}", flush=True)
    s3 = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )

    step("create a bucket and enable versioning")
    s3.create_bucket(Bucket=BUCKET)
    expect("Status" not in s3.get_bucket_versioning(Bucket=BUCKET), "a new bucket is unversioned")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    expect(s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled", "versioning enabled")

    step("overwrite a key three times: three versions, newest first")
    ids = []
    for i in range(3):
        r = s3.put_object(Bucket=BUCKET, Key="doc.txt", Body=f"v{i}".encode())
        ids.append(r["VersionId"])
    expect(len(set(ids)) == 3 and all(ids), f"three distinct version ids {ids}")
    expect(body(s3, "doc.txt") == b"v2", "GET returns the newest")
    expect(body(s3, "doc.txt", VersionId=ids[0]) == b"v0", "GET ?versionId returns the oldest")
    versions, _, _, _ = all_versions(s3, Prefix="doc.txt")
    expect([v["VersionId"] for v in versions] == ids[::-1], "listed newest first")
    expect([v["IsLatest"] for v in versions] == [True, False, False], "only the newest is latest")

    step("delete without a version id: a delete marker hides the key")
    r = s3.delete_object(Bucket=BUCKET, Key="doc.txt")
    expect(r.get("DeleteMarker") is True and r.get("VersionId"), "the delete made a marker")
    marker = r["VersionId"]
    expect(client_error(s3.get_object, Bucket=BUCKET, Key="doc.txt") == (404, "NoSuchKey"),
           "GET of a deleted key is 404 NoSuchKey")
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    expect(all(o["Key"] != "doc.txt" for o in listed), "ListObjectsV2 no longer shows the key")
    _, markers, _, _ = all_versions(s3, Prefix="doc.txt")
    expect([m["VersionId"] for m in markers] == [marker] and markers[0]["IsLatest"],
           "the marker is listed and latest")

    step("restore an old version by copying it over the key")
    r = s3.copy_object(Bucket=BUCKET, Key="doc.txt",
                       CopySource={"Bucket": BUCKET, "Key": "doc.txt", "VersionId": ids[1]})
    expect(r.get("CopySourceVersionId") == ids[1], "the copy names its source version")
    expect(body(s3, "doc.txt") == b"v1", "the restored content is current")
    versions, markers, _, _ = all_versions(s3, Prefix="doc.txt")
    expect(len(versions) == 4 and len(markers) == 1, "history kept: 4 versions, 1 marker")

    step("permanent delete by version id; an unknown version id deletes nothing")
    s3.delete_object(Bucket=BUCKET, Key="doc.txt", VersionId=ids[0])
    expect(client_error(s3.get_object, Bucket=BUCKET, Key="doc.txt", VersionId=ids[0])
           in ((404, "NoSuchVersion"), (400, "InvalidArgument")), "the deleted version is gone")
    err = client_error(s3.delete_object, Bucket=BUCKET, Key="doc.txt", VersionId="not-a-version")
    expect(err in ((400, "InvalidArgument"), (404, "NoSuchVersion")), f"bogus version id: {err}")
    expect(body(s3, "doc.txt") == b"v1", "the current version survived the bogus delete")
    r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [
        {"Key": "doc.txt", "VersionId": marker}, {"Key": "doc.txt", "VersionId": ids[2]}]})
    expect(len(r.get("Deleted", [])) == 2 and not r.get("Errors"), "DeleteObjects by version id")
    versions, markers, _, _ = all_versions(s3, Prefix="doc.txt")
    expect(len(versions) == 2 and not markers, "two versions left, no marker")

    step("1,100 versions of one key and 30 keys under two prefixes: paginated listing")
    for i in range(1100):
        s3.put_object(Bucket=BUCKET, Key="many", Body=str(i).encode())
    for i in range(15):
        s3.put_object(Bucket=BUCKET, Key=f"dir/a/{i}", Body=b"a")
        s3.put_object(Bucket=BUCKET, Key=f"dir/b/{i}", Body=b"b")
    versions, markers, _, pages = all_versions(s3, Prefix="many")
    expect(len(versions) == 1100 and pages >= 2, f"1,100 versions over {pages} pages")
    expect(len({v["VersionId"] for v in versions}) == 1100, "every version id is unique")
    expect(sum(v["IsLatest"] for v in versions) == 1 and versions[0]["IsLatest"],
           "exactly one latest, listed first")
    versions, _, _, pages = all_versions(s3, Prefix="many", PaginationConfig={"PageSize": 100})
    expect(len(versions) == 1100 and pages == 11, f"MaxKeys=100 gives 11 pages ({pages})")
    _, _, prefixes, _ = all_versions(s3, Prefix="dir/", Delimiter="/")
    expect(sorted(prefixes) == ["dir/a/", "dir/b/"], f"delimiter rolls up prefixes {prefixes}")

    step("suspend: writes replace the null version, older versions stay")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    expect(s3.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended", "suspended")
    r1 = s3.put_object(Bucket=BUCKET, Key="doc.txt", Body=b"null-1")
    s3.put_object(Bucket=BUCKET, Key="doc.txt", Body=b"null-2")
    expect(r1.get("VersionId") in (None, "null"), "a suspended write is the null version")
    versions, _, _, _ = all_versions(s3, Prefix="doc.txt")
    nulls = [v for v in versions if v["VersionId"] == "null"]
    expect(len(nulls) == 1 and nulls[0]["IsLatest"], "one null version, latest")
    expect(len(versions) == 3, f"the two enabled-era versions stay ({len(versions)} in all)")
    expect(body(s3, "doc.txt", VersionId="null") == b"null-2", "the null version was replaced")
    err = client_error(s3.put_bucket_versioning, Bucket=BUCKET,
                       VersioningConfiguration={"Status": "Disabled"})
    expect(err is not None and err[0] == 400, f"a bucket never returns to unversioned: {err}")

    step("clean up: delete every version, then the bucket")
    versions, markers, _, _ = all_versions(s3)
    everything = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in versions + markers]
    for i in range(0, len(everything), 1000):
        r = s3.delete_objects(Bucket=BUCKET, Delete={"Objects": everything[i:i + 1000]})
        expect(not r.get("Errors"), "batch delete of versions")
    s3.delete_bucket(Bucket=BUCKET)
    print("boto3 versioning scenario passed", flush=True)


main()
