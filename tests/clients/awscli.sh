#!/usr/bin/env bash
# AWS CLI scenario (v1 from PyPI, in the clients venv): `aws s3 cp/sync/ls/rm/presign` and
# `aws s3api`, with a 100 MiB multipart upload and a directory-tree sync.
. "$(dirname "$0")/lib.sh"

cd "$WORK_DIR"
# Nothing from the machine's own AWS configuration leaks in.
export HOME="$WORK_DIR"
export AWS_CONFIG_FILE="$WORK_DIR/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$WORK_DIR/aws-credentials"
cat >"$AWS_CONFIG_FILE" <<CONF
[default]
region = $AWS_DEFAULT_REGION
s3 =
    addressing_style = path
    signature_version = s3v4
CONF
: >"$AWS_SHARED_CREDENTIALS_FILE"

B=$S3_BUCKET
aws() {
    case "$1 ${2:-}" in
    "s3 cp" | "s3 sync" | "s3 mv") command aws --endpoint-url "$S3_ENDPOINT" "$@" --no-progress ;;
    "s3 rm") command aws --endpoint-url "$S3_ENDPOINT" "$@" --only-show-errors ;;
    *) command aws --endpoint-url "$S3_ENDPOINT" "$@" ;;
    esac
}

step "version: $(command aws --version 2>&1)"

step "create bucket"
aws s3 mb "s3://$B"
aws s3api head-bucket --bucket "$B"

step "small upload (aws s3 cp)"
random_file small.bin 1000
aws s3 cp small.bin "s3://$B/small.bin"

step "100 MiB multipart upload (aws s3 cp, 8 MiB parts)"
random_file big.bin $((100 * 1024 * 1024))
aws s3 cp big.bin "s3://$B/big.bin"
etag=$(aws s3api head-object --bucket "$B" --key big.bin --query ETag --output text)
contains "$etag" '-13"' "multipart ETag of 100 MiB in 8 MiB parts"
len=$(aws s3api head-object --bucket "$B" --key big.bin --query ContentLength --output text)
[ "$len" = $((100 * 1024 * 1024)) ] || fail "ContentLength $len"

step "download the multipart object (aws s3 cp)"
aws s3 cp "s3://$B/big.bin" big.out
same_bytes big.bin big.out "100 MiB download"
aws s3 cp "s3://$B/small.bin" small.out
same_bytes small.bin small.out "small download"

step "ranged download (aws s3api get-object --range), across the first part boundary"
aws s3api get-object --bucket "$B" --key big.bin --range bytes=8388000-8389999 range.out >/dev/null
slice big.bin 8388000 2000 >range.want
same_bytes range.want range.out "bytes=8388000-8389999"
aws s3api get-object --bucket "$B" --key small.bin --range bytes=-10 suffix.out >/dev/null
slice small.bin 990 10 >suffix.want
same_bytes suffix.want suffix.out "bytes=-10"

step "listing with a delimiter (aws s3 ls, aws s3api list-objects-v2 --delimiter /)"
printf 'a' | aws s3 cp - "s3://$B/dir/a.txt"
printf 'b' | aws s3 cp - "s3://$B/dir/sub/b.txt"
out=$(aws s3 ls "s3://$B/")
contains "$out" "PRE dir/" "aws s3 ls"
contains "$out" "small.bin" "aws s3 ls"
lacks "$out" "a.txt" "aws s3 ls is not recursive"
out=$(aws s3api list-objects-v2 --bucket "$B" --prefix dir/ --delimiter / \
    --query '[Contents[].Key, CommonPrefixes[].Prefix]' --output text)
contains "$out" "dir/a.txt" "list-objects-v2 prefix dir/"
contains "$out" "dir/sub/" "list-objects-v2 common prefix"
lacks "$out" "dir/sub/b.txt" "list-objects-v2 rolls dir/sub/ up"
out=$(aws s3 ls --recursive "s3://$B/dir/")
contains "$out" "dir/sub/b.txt" "aws s3 ls --recursive"

step "paginated listing (aws s3api list-objects-v2 --page-size 2)"
n=$(aws s3api list-objects-v2 --bucket "$B" --page-size 2 --query 'Contents[].Key' --output text | wc -w)
[ "$n" = 4 ] || fail "paginated listing found $n keys, expected 4"

step "copy: multipart server-side copy of 100 MiB (aws s3 cp s3:// s3://) and copy-object"
aws s3 cp "s3://$B/big.bin" "s3://$B/copy/big.bin"
aws s3 cp "s3://$B/copy/big.bin" big.copy.out
same_bytes big.bin big.copy.out "copied 100 MiB object"
aws s3api copy-object --bucket "$B" --key copy/small.bin --copy-source "$B/small.bin" >/dev/null
aws s3 cp "s3://$B/copy/small.bin" small.copy.out
same_bytes small.bin small.copy.out "copy-object"
rm -f big.out big.copy.out

step "sync a directory tree up, down, and again (nothing to do)"
make_tree tree
aws s3 sync tree "s3://$B/tree/"
aws s3 sync "s3://$B/tree/" tree.back
diff -r tree tree.back || fail "synced tree differs"
again=$(aws s3 sync tree "s3://$B/tree/")
[ -z "$again" ] || fail "second sync transferred files: $again"
random_file tree/a/new.bin 333
rm tree/top.bin
out=$(aws s3 sync --delete tree "s3://$B/tree/")
contains "$out" "upload: tree/a/new.bin" "incremental sync"
contains "$out" "delete: s3://$B/tree/top.bin" "sync --delete"
aws s3 sync --delete "s3://$B/tree/" tree.back
diff -r tree tree.back || fail "tree differs after the incremental sync"

step "presigned GET (aws s3 presign + curl): SigV2 (the CLI v1 default) and SigV4"
url=$(AWS_CONFIG_FILE=/dev/null aws s3 presign "s3://$B/small.bin" --expires-in 300)
contains "$url" "AWSAccessKeyId=" "CLI v1 default presigned URL (SigV2)"
curl -sSf -o v2.out "$url" || fail "SigV2 presigned GET failed: $(curl -s "$url")"
same_bytes small.bin v2.out "SigV2 presigned GET"
first=$(printf '%s' "$url" | sed -n 's/.*Signature=\(.\).*/\1/p')
other=A; [ "$first" = A ] && other=B
tampered=$(printf '%s' "$url" | sed "s/Signature=./Signature=$other/")
code=$(curl -s -o v2bad.out -w '%{http_code}' "$tampered")
[ "$code" = 403 ] || fail "tampered SigV2 URL answered $code: $(cat v2bad.out)"
contains "$(cat v2bad.out)" "<Code>SignatureDoesNotMatch</Code>" "tampered SigV2 URL"
url=$(aws s3 presign "s3://$B/small.bin" --expires-in 300)
contains "$url" "X-Amz-Signature=" "SigV4 presigned URL"
curl -sSf -o presigned.out "$url"
same_bytes small.bin presigned.out "presigned GET"

step "batch delete (aws s3api delete-objects)"
out=$(aws s3api delete-objects --bucket "$B" \
    --delete '{"Objects":[{"Key":"small.bin"},{"Key":"dir/a.txt"},{"Key":"no-such-key"}]}' \
    --query 'length(Deleted)' --output text)
[ "$out" = 3 ] || fail "delete-objects reported $out deleted, expected 3"
if aws s3api head-object --bucket "$B" --key small.bin >/dev/null 2>&1; then
    fail "small.bin still exists after delete-objects"
fi

step "aws s3 rm --recursive, then remove the bucket"
aws s3 rm --recursive "s3://$B/tree/"
out=$(aws s3 ls --recursive "s3://$B/tree/" || true)
[ -z "$out" ] || fail "tree/ not empty after rm --recursive: $out"
aws s3 rb --force "s3://$B"
if aws s3api head-bucket --bucket "$B" 2>/dev/null; then fail "bucket still exists"; fi

echo "awscli scenario passed"
