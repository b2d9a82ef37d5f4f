#!/usr/bin/env python3
"""Regenerates clients.json: Signature Version 2 requests, presigned URLs and POST forms as
botocore and s3cmd sign them, at a fixed time, for s3gate-sigv4's tests.

Run it in a virtual environment with the pinned clients (nothing is sent anywhere: botocore's
requests are captured before they would be sent, s3cmd's signing functions are called
directly):

    python3 -m venv /tmp/sigv2-venv
    /tmp/sigv2-venv/bin/pip install botocore==1.44.5 s3cmd==2.4.0
    /tmp/sigv2-venv/bin/python generate.py > clients.json
"""

import datetime
import json
import sys
from unittest import mock
from urllib.parse import urlsplit

import botocore
import botocore.auth
import botocore.session
import botocore.signers
from botocore.config import Config

AK = "AKIDSIGV2EXAMPLE"
SK = "sigv2/Secret+Key/EXAMPLE"
NOW = 1_700_000_000  # 2023-11-14T22:13:20Z
NOW_DT = datetime.datetime.fromtimestamp(NOW, datetime.timezone.utc).replace(tzinfo=None)
DATE = "Tue, 14 Nov 2023 22:13:20 GMT"


class Captured(Exception):
    pass


def client(style):
    session = botocore.session.get_session()
    endpoint = "http://127.0.0.1:9000" if style == "path" else "http://s3.example.test:9000"
    c = session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        config=Config(
            signature_version="s3",
            s3={"addressing_style": style},
            retries={"max_attempts": 1},
            request_checksum_calculation="when_required",
        ),
    )
    return c


strings_to_sign = []
real_sign_string = botocore.auth.HmacV1Auth.sign_string


def recording_sign_string(self, string_to_sign):
    strings_to_sign.append(string_to_sign)
    return real_sign_string(self, string_to_sign)


def header_case(name, c, style, call, **params):
    captured = {}

    def before_send(request, **_):
        captured["request"] = request
        raise Captured()

    c.meta.events.register("before-send", before_send)
    strings_to_sign.clear()
    try:
        getattr(c, call)(**params)
    except Captured:
        pass
    c.meta.events.unregister("before-send", before_send)
    req = captured["request"]
    split = urlsplit(req.url)
    # User-Agent (names the machine) and amz-sdk-invocation-id (random) are unsigned in SigV2;
    # they are left out so that the file regenerates identically.
    headers = [
        [k, v.decode() if isinstance(v, bytes) else v]
        for k, v in req.headers.items()
        if k.lower() not in ("user-agent", "amz-sdk-invocation-id")
    ]
    host_bucket = None
    if style == "virtual" and split.hostname.endswith(".s3.example.test"):
        host_bucket = split.hostname[: -len(".s3.example.test")]
    headers.insert(0, ["Host", split.netloc])
    auth = dict((k.lower(), v) for k, v in headers)["authorization"]
    return {
        "name": name,
        "client": f"botocore {botocore.__version__} ({style}-style)",
        "kind": "header",
        "now": NOW,
        "method": req.method,
        "path": split.path or "/",
        "query": split.query or None,
        "headers": [h for h in headers if h[0].lower() != "authorization"],
        "host_bucket": host_bucket,
        "authorization": auth,
        "string_to_sign": strings_to_sign[-1],
    }


def presigned_case(name, c, style, call, expires_in, **params):
    strings_to_sign.clear()
    url = c.generate_presigned_url(call, Params=params, ExpiresIn=expires_in)
    split = urlsplit(url)
    host_bucket = None
    if style == "virtual" and split.hostname.endswith(".s3.example.test"):
        host_bucket = split.hostname[: -len(".s3.example.test")]
    method = {"get_object": "GET", "put_object": "PUT", "delete_object": "DELETE"}[call]
    return {
        "name": name,
        "client": f"botocore {botocore.__version__} ({style}-style)",
        "kind": "query",
        "now": NOW + 1,
        "method": method,
        "path": split.path,
        "query": split.query,
        "headers": [["Host", split.netloc]],
        "host_bucket": host_bucket,
        "string_to_sign": strings_to_sign[-1],
    }


def post_case(name, version, bucket, key, fields, conditions, expires_in, filename):
    session = botocore.session.get_session()
    c = session.create_client(
        "s3",
        region_name="us-east-1",
        endpoint_url="http://127.0.0.1:9000",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
        config=Config(signature_version=version, s3={"addressing_style": "path"}),
    )
    post = c.generate_presigned_post(
        bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires_in
    )
    return {
        "name": name,
        "client": f"botocore {botocore.__version__} generate_presigned_post ({version})",
        "kind": "post",
        "now": NOW + 1,
        "url": post["url"],
        "bucket": bucket,
        "fields": [[k, v] for k, v in post["fields"].items()],
        "filename": filename,
        "expected_key": key.replace("${filename}", filename),
    }


def botocore_cases():
    out = []
    p, v = client("path"), client("virtual")
    out.append(header_case("list buckets", p, "path", "list_buckets"))
    out.append(header_case("create bucket", p, "path", "create_bucket", Bucket="sigv2-bucket"))
    out.append(
        header_case(
            "put object with metadata, acl, content type, tagging, md5",
            p,
            "path",
            "put_object",
            Bucket="sigv2-bucket",
            Key="dir/a b+c~!$&'()*,;=@.txt",
            Body=b"hello sigv2",
            ContentType="text/plain; charset=utf-8",
            ContentMD5="dhu/+UufHqQQ0oxnSbGwGA==",
            ACL="private",
            Metadata={"ReviewedBy": "joe@example.test", "spaced": "a  b"},
            Tagging="k=v&k2=v2",
        )
    )
    out.append(
        header_case(
            "put object, non-ASCII key (virtual-hosted)",
            v,
            "virtual",
            "put_object",
            Bucket="sigv2-bucket",
            Key="dictionnaire/français/préfère ü.txt",
            Body=b"x",
        )
    )
    out.append(
        header_case(
            "get object with range, version and response overrides",
            p,
            "path",
            "get_object",
            Bucket="sigv2-bucket",
            Key="k",
            Range="bytes=0-9",
            VersionId="3/L4kqtJlcpXroDTDmJ+rmSpXd3dIbrHY",
            ResponseContentDisposition='attachment; filename="a b.txt"',
            ResponseContentType="application/octet-stream",
            ResponseCacheControl="no-cache",
        )
    )
    out.append(header_case("head object (virtual-hosted)", v, "virtual", "head_object", Bucket="sigv2-bucket", Key="k"))
    out.append(header_case("delete object", p, "path", "delete_object", Bucket="sigv2-bucket", Key="k"))
    out.append(
        header_case(
            "list objects v2 (query not signed)",
            p,
            "path",
            "list_objects_v2",
            Bucket="sigv2-bucket",
            Prefix="dir/",
            Delimiter="/",
            MaxKeys=10,
        )
    )
    out.append(
        header_case("list objects v1 (virtual-hosted)", v, "virtual", "list_objects", Bucket="sigv2-bucket", Marker="a b")
    )
    out.append(header_case("get bucket acl", p, "path", "get_bucket_acl", Bucket="sigv2-bucket"))
    out.append(header_case("get bucket location (virtual-hosted)", v, "virtual", "get_bucket_location", Bucket="sigv2-bucket"))
    out.append(header_case("get bucket versioning", p, "path", "get_bucket_versioning", Bucket="sigv2-bucket"))
    out.append(
        header_case(
            "put object tagging",
            p,
            "path",
            "put_object_tagging",
            Bucket="sigv2-bucket",
            Key="k",
            Tagging={"TagSet": [{"Key": "a", "Value": "b"}]},
        )
    )
    out.append(
        header_case(
            "create multipart upload",
            p,
            "path",
            "create_multipart_upload",
            Bucket="sigv2-bucket",
            Key="big",
            ContentType="application/x-tar",
        )
    )
    out.append(
        header_case(
            "upload part",
            p,
            "path",
            "upload_part",
            Bucket="sigv2-bucket",
            Key="big",
            PartNumber=2,
            UploadId="VXBsb2FkIElE-with_chars.~",
            Body=b"part two",
        )
    )
    out.append(
        header_case(
            "complete multipart upload",
            p,
            "path",
            "complete_multipart_upload",
            Bucket="sigv2-bucket",
            Key="big",
            UploadId="VXBsb2FkIElE-with_chars.~",
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"a"'}]},
        )
    )
    out.append(
        header_case(
            "delete objects",
            p,
            "path",
            "delete_objects",
            Bucket="sigv2-bucket",
            Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]},
        )
    )
    out.append(
        header_case(
            "copy object",
            p,
            "path",
            "copy_object",
            Bucket="sigv2-bucket",
            Key="copy",
            CopySource={"Bucket": "sigv2-bucket", "Key": "dir/a b.txt"},
            MetadataDirective="REPLACE",
            Metadata={"m": "1"},
        )
    )
    out.append(presigned_case("presigned get", p, "path", "get_object", 3600, Bucket="sigv2-bucket", Key="dir/a b+c.txt"))
    out.append(
        presigned_case(
            "presigned get with response override (virtual-hosted)",
            v,
            "virtual",
            "get_object",
            600,
            Bucket="sigv2-bucket",
            Key="k",
            ResponseContentDisposition="attachment; filename=x.txt",
        )
    )
    out.append(
        presigned_case(
            "presigned put with content type and metadata (hoisted to the query)",
            p,
            "path",
            "put_object",
            900,
            Bucket="sigv2-bucket",
            Key="upload.txt",
            ContentType="text/plain",
            Metadata={"origin": "presigned"},
        )
    )
    out.append(presigned_case("presigned delete", p, "path", "delete_object", 60, Bucket="sigv2-bucket", Key="k"))
    out.append(
        post_case(
            "presigned post, SigV2",
            "s3",
            "sigv2-bucket",
            "uploads/${filename}",
            {"acl": "private", "Content-Type": "image/png", "success_action_status": "201"},
            [
                {"acl": "private"},
                ["starts-with", "$Content-Type", "image/"],
                {"success_action_status": "201"},
                ["content-length-range", 1, 1048576],
            ],
            3600,
            "photo.png",
        )
    )
    out.append(
        post_case(
            "presigned post, SigV4",
            "s3v4",
            "sigv2-bucket",
            "uploads/${filename}",
            {"acl": "private", "x-amz-meta-origin": "form"},
            [{"acl": "private"}, ["eq", "$x-amz-meta-origin", "form"], ["content-length-range", 0, 10]],
            3600,
            "notes.txt",
        )
    )
    out.append(
        post_case(
            "presigned post, SigV4, exact key, no conditions",
            "s3v4",
            "sigv2-bucket",
            "exact/key.bin",
            {},
            [],
            60,
            "ignored.bin",
        )
    )
    return out


def s3cmd_cases():
    from S3 import Crypto
    from S3.Config import Config as S3cmdConfig
    from S3.SortedDict import SortedDict
    import S3.PkgInfo

    cfg = S3cmdConfig()
    cfg.access_key = AK
    cfg.secret_key = SK
    cfg.host_base = "127.0.0.1:9000"
    cfg.host_bucket = "127.0.0.1:9000"
    version = f"s3cmd {S3.PkgInfo.version}"
    amz_date = "Tue, 14 Nov 2023 22:13:20 +0000"
    out = []
    for name, method, uri, params, extra in [
        ("ls (list bucket)", "GET", "/", {"prefix": "dir/", "delimiter": "/"}, {}),
        ("put with metadata", "PUT", "/dir/a b.txt", {}, {
            "content-type": "text/plain", "content-length": "3",
            "x-amz-meta-s3cmd-attrs": "uid:0/gname:root", "x-amz-storage-class": "STANDARD"}),
        ("multipart init", "POST", "/big.bin", {"uploads": None}, {"content-type": "application/octet-stream"}),
        ("multipart part", "PUT", "/big.bin", {"partNumber": "3", "uploadId": "VXBsb2Fk"}, {"content-length": "5"}),
        ("setacl", "GET", "/k", {"acl": None}, {}),
        ("delete multiple", "POST", "/", {"delete": None}, {"content-md5": "1B2M2Y8AsgTpgAmY7PhCfg==", "content-type": "application/xml"}),
    ]:
        headers = SortedDict(ignore_case=True)
        headers["x-amz-date"] = amz_date
        for k, val in extra.items():
            headers[k] = val
        bucket_uri = "/sigv2-bucket" + uri
        signed = Crypto.sign_request_v2(method, bucket_uri, params, headers)
        query = Crypto.format_param_str(params)
        wire_path = "/sigv2-bucket" + Crypto.s3_quote(uri, quote_backslashes=False, unicode_output=True)
        hs = [["Host", "127.0.0.1:9000"]] + [[k, v] for k, v in signed.items() if k.lower() != "authorization"]
        out.append({
            "name": name,
            "client": f"{version} (path-style)",
            "kind": "header",
            "now": NOW,
            "method": method,
            "path": wire_path,
            "query": query[1:] if query else None,
            "headers": hs,
            "host_bucket": None,
            "authorization": signed["Authorization"],
        })
    # signurl: s3cmd signs and builds the URL itself.
    from S3.S3Uri import S3Uri
    url = Crypto.sign_url_v2(S3Uri("s3://sigv2-bucket/dir/a b.txt"), NOW + 3600)
    split = urlsplit(url)
    out.append({
        "name": "signurl",
        "client": f"{version} (path-style)",
        "kind": "query",
        "now": NOW + 1,
        "method": "GET",
        "path": split.path,
        "query": split.query,
        "headers": [["Host", split.netloc]],
        "host_bucket": None,
    })
    return out


def main():
    patches = [
        mock.patch.object(botocore.auth.HmacV1Auth, "sign_string", recording_sign_string),
        mock.patch("botocore.auth.formatdate", lambda usegmt=True: DATE),
        mock.patch("botocore.auth.time.time", lambda: NOW),
        mock.patch("botocore.auth.get_current_datetime", lambda: NOW_DT),
        mock.patch("botocore.signers.get_current_datetime", lambda: NOW_DT),
    ]
    for patch in patches:
        patch.start()
    cases = botocore_cases()
    for patch in patches:
        patch.stop()
    cases += s3cmd_cases()
    json.dump(
        {"access_key_id": AK, "secret_access_key": SK, "cases": cases},
        sys.stdout,
        indent=1,
        ensure_ascii=False,
    )
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
