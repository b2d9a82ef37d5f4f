#!/usr/bin/env bash
# s3cmd scenario (Debian's package): path-style SigV4 through a generated config file,
# multipart put with 5 MiB chunks, ls, resumed (ranged) get, cp, batch del, sync, signurl
# (SigV2 URLs), and SigV2 header auth through a second config.
. "$(dirname "$0")/lib.sh"

cd "$WORK_DIR"
export HOME="$WORK_DIR"
hostport=${S3_ENDPOINT#http://}
cat >s3cmd.cfg <<CONF
[default]
access_key = $AWS_ACCESS_KEY_ID
secret_key = $AWS_SECRET_ACCESS_KEY
host_base = $hostport
host_bucket = $hostport
bucket_location = $AWS_DEFAULT_REGION
use_https = False
signature_v2 = False
check_ssl_certificate = False
multipart_chunk_size_mb = 5
progress_meter = False
CONF

B=$S3_BUCKET
s3cmd() { command s3cmd -c "$WORK_DIR/s3cmd.cfg" "$@"; }

step "version: $(s3cmd --version)"

step "create bucket"
s3cmd mb "s3://$B"
out=$(s3cmd ls)
contains "$out" "s3://$B" "s3cmd ls"

step "small put, and a 12 MiB multipart put (5 MiB chunks)"
random_file small.bin 1000
s3cmd put small.bin "s3://$B/small.bin"
random_file big.bin $((12 * 1024 * 1024 + 7))
out=$(s3cmd --debug put big.bin "s3://$B/big.bin" 2>&1)
contains "$out" "partNumber=3&uploadId=" "multipart put sends part 3"
lacks "$out" "partNumber=4&" "multipart put of 12 MiB in 5 MiB parts"

step "download and compare"
s3cmd get "s3://$B/big.bin" big.out
same_bytes big.bin big.out "multipart get"
s3cmd get "s3://$B/small.bin" small.out
same_bytes small.bin small.out "small get"

step "ranged download: resume a partial file (s3cmd get --continue sends Range: bytes=N-)"
slice big.bin 0 6000000 >resumed.out
s3cmd get --continue "s3://$B/big.bin" resumed.out
same_bytes big.bin resumed.out "resumed get"

step "listing with a delimiter (s3cmd ls is not recursive)"
printf 'a' >a.txt
printf 'b' >b.txt
s3cmd put a.txt "s3://$B/dir/a.txt"
s3cmd put b.txt "s3://$B/dir/sub/b.txt"
out=$(s3cmd ls "s3://$B/")
contains "$out" "DIR  s3://$B/dir/" "s3cmd ls"
contains "$out" "s3://$B/small.bin" "s3cmd ls"
lacks "$out" "a.txt" "s3cmd ls is not recursive"
out=$(s3cmd ls "s3://$B/dir/")
contains "$out" "DIR  s3://$B/dir/sub/" "s3cmd ls dir/"
out=$(s3cmd ls --recursive "s3://$B/dir/")
contains "$out" "s3://$B/dir/sub/b.txt" "s3cmd ls --recursive"

step "server-side copy (s3cmd cp)"
s3cmd cp "s3://$B/big.bin" "s3://$B/copy/big.bin"
s3cmd get "s3://$B/copy/big.bin" big.copy.out
same_bytes big.bin big.copy.out "s3cmd cp"
rm -f big.out big.copy.out resumed.out

step "sync a directory tree up and down (s3cmd sync)"
make_tree tree
s3cmd sync tree/ "s3://$B/tree/"
s3cmd sync "s3://$B/tree/" tree.back/
diff -r tree tree.back || fail "synced tree differs"

step "presigned GET (s3cmd signurl makes SigV2 URLs)"
url=$(s3cmd signurl "s3://$B/small.bin" +300)
contains "$url" "Signature=" "signurl"
curl -sSf -o signurl.out "$url" || fail "SigV2 presigned GET failed: $(curl -s "$url")"
same_bytes small.bin signurl.out "SigV2 presigned GET"
first=$(printf '%s' "$url" | sed -n 's/.*Signature=\(.\).*/\1/p')
other=A; [ "$first" = A ] && other=B
tampered=$(printf '%s' "$url" | sed "s/Signature=./Signature=$other/")
code=$(curl -s -o signbad.out -w '%{http_code}' "$tampered")
[ "$code" = 403 ] || fail "tampered SigV2 URL answered $code: $(cat signbad.out)"
contains "$(cat signbad.out)" "<Code>SignatureDoesNotMatch</Code>" "tampered SigV2 URL"

step "SigV2 header auth (signature_v2 = True): put, ls, get, info, del"
sed 's/^signature_v2 = False/signature_v2 = True/' s3cmd.cfg >s3cmd-v2.cfg
s3v2() { command s3cmd -c "$WORK_DIR/s3cmd-v2.cfg" "$@"; }
random_file v2.bin 300000
out=$(s3v2 --debug put v2.bin "s3://$B/v2/v2.bin" 2>&1)
contains "$out" "Using signature v2" "s3cmd signs with SigV2"
lacks "$out" "AWS4-HMAC-SHA256" "s3cmd signs with SigV2 only"
out=$(s3v2 ls "s3://$B/v2/")
contains "$out" "s3://$B/v2/v2.bin" "SigV2 ls"
s3v2 get "s3://$B/v2/v2.bin" v2.out
same_bytes v2.bin v2.out "SigV2 get"
s3v2 info "s3://$B/v2/v2.bin" >/dev/null
s3v2 del "s3://$B/v2/v2.bin"
out=$(s3v2 ls "s3://$B/v2/")
[ -z "$out" ] || fail "v2/ not empty after SigV2 del: $out"

step "batch delete (s3cmd del --recursive uses DeleteObjects)"
s3cmd del --recursive "s3://$B/dir/"
out=$(s3cmd ls --recursive "s3://$B/dir/")
[ -z "$out" ] || fail "dir/ not empty after del --recursive: $out"
s3cmd del "s3://$B/small.bin"
out=$(s3cmd ls "s3://$B/small.bin")
[ -z "$out" ] || fail "small.bin still listed: $out"

step "remove everything and the bucket"
s3cmd del --recursive --force "s3://$B/"
s3cmd rb "s3://$B"
out=$(s3cmd ls)
lacks "$out" "s3://$B" "bucket removed"

echo "s3cmd scenario passed"
