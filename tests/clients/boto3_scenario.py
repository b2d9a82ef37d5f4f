#!/usr/bin/env python3
"""boto3 scenario, run by tests/e2e/clients.rs (environment contract: see lib.sh).

Runs the whole scenario twice: with botocore's default checksums (`when_supported`: CRC32 on
every upload) and with `when_required` (the pre-2025 behaviour).
"""

import hashlib
import os
import sys
import urllib.error
import urllib.request

import boto3
import botocore
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

ENDPOINT = os.environ["S3_ENDPOINT"]
BUCKET = os.environ["S3_BUCKET"]
WORK = os.environ["WORK_DIR"]
MIB = 1024 * 1024


def step(what):
    print(f"--- {what}", flush=True)


def check_same(want, got, what):
    w, g = hashlib.sha256(want).hexdigest(), hashlib.sha256(got).hexdigest()
    if w != g:
        sys.exit(f"FAIL: {what}: sha256 {g} ({len(got)} bytes), expected {w} ({len(want)} bytes)")
    print(f"    {what}: sha256 {g} ok", flush=True)


def expect(cond, what):
    if not cond:
        sys.exit(f"FAIL: {what}")


def client_error(fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except botocore.exceptions.ClientError as e:
        return e.response["ResponseMetadata"]["HTTPStatusCode"], e.response["Error"]["Code"]
    return None


def scenario(mode):
    bucket = f"{BUCKET}-{mode.replace('_', '')}"
    s3 = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        config=Config(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            request_checksum_calculation=mode,
            response_checksum_validation=mode,
            retries={"max_attempts": 2},
        ),
    )

    step(f"[{mode}] create bucket {bucket}")
    s3.create_bucket(Bucket=bucket)
    s3.head_bucket(Bucket=bucket)

    step(f"[{mode}] small put_object")
    small = os.urandom(1000)
    s3.put_object(Bucket=bucket, Key="small.bin", Body=small)

    step(f"[{mode}] multipart upload_file (5 MiB parts, 3 parts)")
    big = os.urandom(12 * MIB + 123)
    path = os.path.join(WORK, f"big-{mode}.bin")
    with open(path, "wb") as f:
        f.write(big)
    tc = TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB, max_concurrency=4)
    s3.upload_file(path, bucket, "big.bin", Config=tc)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    expect(head["ETag"].endswith('-3"'), f"multipart ETag {head['ETag']}")
    expect(head["ContentLength"] == len(big), f"ContentLength {head['ContentLength']}")

    step(f"[{mode}] download (get_object and the parallel ranged download_file)")
    check_same(small, s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read(), "get small")
    out = os.path.join(WORK, f"big-{mode}.out")
    s3.download_file(bucket, "big.bin", out, Config=tc)
    with open(out, "rb") as f:
        check_same(big, f.read(), "download_file big")
    os.remove(out)

    step(f"[{mode}] ranged get_object, across a part boundary and a suffix")
    r = s3.get_object(Bucket=bucket, Key="big.bin", Range="bytes=5242000-5243999")
    expect(r["ContentRange"] == f"bytes 5242000-5243999/{len(big)}", r["ContentRange"])
    check_same(big[5242000:5244000], r["Body"].read(), "bytes=5242000-5243999")
    r = s3.get_object(Bucket=bucket, Key="small.bin", Range="bytes=-17")
    check_same(small[-17:], r["Body"].read(), "bytes=-17")

    step(f"[{mode}] list_objects_v2 with a delimiter, and paginated")
    for key in ["dir/a.txt", "dir/sub/b.txt", "top.txt"]:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    r = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    keys = [o["Key"] for o in r.get("Contents", [])]
    prefixes = [p["Prefix"] for p in r.get("CommonPrefixes", [])]
    expect(keys == ["big.bin", "small.bin", "top.txt"], f"keys {keys}")
    expect(prefixes == ["dir/"], f"prefixes {prefixes}")
    r = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    expect([o["Key"] for o in r["Contents"]] == ["dir/a.txt"], str(r["Contents"]))
    expect([p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"], str(r["CommonPrefixes"]))
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
    all_keys = [o["Key"] for page in pages for o in page.get("Contents", [])]
    expect(all_keys == ["big.bin", "dir/a.txt", "dir/sub/b.txt", "small.bin", "top.txt"], str(all_keys))
    r = s3.list_objects(Bucket=bucket, Delimiter="/", Prefix="dir/")
    expect([p["Prefix"] for p in r["CommonPrefixes"]] == ["dir/sub/"], "v1 listing")

    step(f"[{mode}] copy_object and the managed (multipart) copy")
    s3.copy_object(Bucket=bucket, Key="copy/small.bin", CopySource={"Bucket": bucket, "Key": "small.bin"})
    check_same(small, s3.get_object(Bucket=bucket, Key="copy/small.bin")["Body"].read(), "copy_object")
    s3.copy({"Bucket": bucket, "Key": "big.bin"}, bucket, "copy/big.bin", Config=tc)
    check_same(big, s3.get_object(Bucket=bucket, Key="copy/big.bin")["Body"].read(), "managed copy")

    step(f"[{mode}] batch delete_objects")
    r = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in ["small.bin", "dir/a.txt", "copy/small.bin", "absent"]]},
    )
    expect(sorted(d["Key"] for d in r["Deleted"]) == ["absent", "copy/small.bin", "dir/a.txt", "small.bin"], str(r))
    expect(not r.get("Errors"), str(r.get("Errors")))
    expect(client_error(s3.head_object, Bucket=bucket, Key="small.bin") == (404, "404"), "small.bin deleted")

    step(f"[{mode}] presigned GET and PUT")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big.bin"}, ExpiresIn=300)
    expect("X-Amz-Signature=" in url, url)
    with urllib.request.urlopen(url) as resp:
        check_same(big, resp.read(), "presigned GET")
    payload = os.urandom(4321)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned.bin"}, ExpiresIn=300)
    req = urllib.request.Request(url, data=payload, method="PUT")
    with urllib.request.urlopen(req) as resp:
        expect(resp.status == 200, f"presigned PUT status {resp.status}")
    check_same(payload, s3.get_object(Bucket=bucket, Key="presigned.bin")["Body"].read(), "presigned PUT")
    bad = url.replace("X-Amz-Signature=", "X-Amz-Signature=0")
    try:
        urllib.request.urlopen(urllib.request.Request(bad, data=b"x", method="PUT"))
        sys.exit("FAIL: tampered presigned URL accepted")
    except urllib.error.HTTPError as e:
        expect(e.code == 403, f"tampered presigned URL: {e.code}")

    step(f"[{mode}] conditional put (If-None-Match: *)")
    s3.put_object(Bucket=bucket, Key="once", Body=b"1", IfNoneMatch="*")
    expect(client_error(s3.put_object, Bucket=bucket, Key="once", Body=b"2", IfNoneMatch="*") == (412, "PreconditionFailed"), "second If-None-Match put")
    check_same(b"1", s3.get_object(Bucket=bucket, Key="once")["Body"].read(), "first write kept")

    step(f"[{mode}] empty the bucket and delete it")
    keys = [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket) for o in page.get("Contents", [])]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys], "Quiet": True})
    s3.delete_bucket(Bucket=bucket)
    expect(client_error(s3.head_bucket, Bucket=bucket) == (404, "404"), "bucket deleted")


def tagging_and_attributes():
    """Object tagging sub-resources, CopyObject's tagging directive and GetObjectAttributes."""
    bucket = f"{BUCKET}-new"
    s3 = boto3.client("s3", endpoint_url=ENDPOINT,
                      config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"))
    s3.create_bucket(Bucket=bucket)
    step("tagging: put_object Tagging, get/put/delete_object_tagging")
    data = os.urandom(3000)
    s3.put_object(Bucket=bucket, Key="t", Body=data, Tagging="a=1&b=two%20words")
    tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]}
    expect(tags == {"a": "1", "b": "two words"}, f"tags {tags}")
    s3.put_object_tagging(Bucket=bucket, Key="t", Tagging={"TagSet": [{"Key": "c", "Value": "3"}]})
    tags = s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"]
    expect(tags == [{"Key": "c", "Value": "3"}], f"tags after put {tags}")
    step("copy_object TaggingDirective COPY and REPLACE")
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "t"})
    expect(s3.get_object_tagging(Bucket=bucket, Key="copy")["TagSet"] == [{"Key": "c", "Value": "3"}], "COPY keeps tags")
    s3.copy_object(Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "t"},
                   TaggingDirective="REPLACE", Tagging="d=4")
    expect(s3.get_object_tagging(Bucket=bucket, Key="copy2")["TagSet"] == [{"Key": "d", "Value": "4"}], "REPLACE")
    s3.delete_object_tagging(Bucket=bucket, Key="t")
    expect(s3.get_object_tagging(Bucket=bucket, Key="t")["TagSet"] == [], "tags deleted")
    step("get_object_attributes")
    a = s3.get_object_attributes(Bucket=bucket, Key="t", ObjectAttributes=["ETag", "ObjectSize", "StorageClass"])
    expect(a["ObjectSize"] == len(data), f"ObjectSize {a}")
    expect(a["ETag"] == hashlib.md5(data).hexdigest(), f"ETag {a}")
    for k in ["t", "copy", "copy2"]:
        s3.delete_object(Bucket=bucket, Key=k)
    s3.delete_bucket(Bucket=bucket)


def main():
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}", flush=True)
    for mode in ["when_supported", "when_required"]:
        scenario(mode)
    tagging_and_attributes()
    print("boto3 scenario passed")


if __name__ == "__main__":
    main()
