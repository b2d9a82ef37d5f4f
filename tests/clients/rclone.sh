#!/usr/bin/env bash
# rclone scenario (Debian's package): a remote configured only through the environment,
# multipart uploads with 5 MiB chunks, listing, ranged cat, server-side copy, sync, link.
. "$(dirname "$0")/lib.sh"

cd "$WORK_DIR"
export HOME="$WORK_DIR"
export RCLONE_CONFIG="$WORK_DIR/rclone.conf"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_GW_TYPE=s3
export RCLONE_CONFIG_GW_PROVIDER=Other
export RCLONE_CONFIG_GW_ENDPOINT="$S3_ENDPOINT"
export RCLONE_CONFIG_GW_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
export RCLONE_CONFIG_GW_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
export RCLONE_CONFIG_GW_REGION="$AWS_DEFAULT_REGION"
export RCLONE_CONFIG_GW_FORCE_PATH_STYLE=true
export RCLONE_S3_UPLOAD_CUTOFF=5M RCLONE_S3_CHUNK_SIZE=5M
export RCLONE_LOW_LEVEL_RETRIES=1 RCLONE_RETRIES=1

B=$S3_BUCKET
R="gw:$B"

step "version: $(rclone version | sed -n 1p)"

step "create bucket"
rclone mkdir "$R"
out=$(rclone lsd gw:)
contains "$out" "$B" "rclone lsd gw:"

step "small upload, and a 12 MiB multipart upload (5 MiB chunks)"
random_file small.bin 1000
rclone copyto small.bin "$R/small.bin"
random_file big.bin $((12 * 1024 * 1024 + 5))
rclone copyto big.bin "$R/big.bin"
out=$(rclone lsl "$R/big.bin")
contains "$out" "$((12 * 1024 * 1024 + 5))" "size of the multipart object"

step "download and compare"
rclone copyto "$R/big.bin" big.out
same_bytes big.bin big.out "multipart download"
rclone cat "$R/small.bin" >small.out
same_bytes small.bin small.out "small download"
rm -f big.out

step "ranged download (rclone cat --offset --count), across the first chunk boundary"
rclone cat --offset 5242000 --count 2000 "$R/big.bin" >range.out
slice big.bin 5242000 2000 >range.want
same_bytes range.want range.out "offset 5242000 count 2000"

step "listing with a delimiter (rclone lsf is not recursive)"
printf 'a' | rclone rcat "$R/dir/a.txt"
printf 'b' | rclone rcat "$R/dir/sub/b.txt"
out=$(rclone lsf "$R")
contains "$out" "dir/" "lsf top level"
contains "$out" "small.bin" "lsf top level"
lacks "$out" "a.txt" "lsf top level is not recursive"
out=$(rclone lsf "$R/dir")
contains "$out" "sub/" "lsf dir/"
contains "$out" "a.txt" "lsf dir/"
out=$(rclone lsf -R "$R/dir")
contains "$out" "sub/b.txt" "lsf -R dir/"

step "server-side copy (rclone copyto remote remote)"
rclone copyto "$R/big.bin" "$R/copy/big.bin"
rclone copyto "$R/copy/big.bin" big.copy.out
same_bytes big.bin big.copy.out "server-side copy"
rm -f big.copy.out

step "sync a directory tree up and down, rclone check, sync again (nothing to do)"
make_tree tree
rclone sync tree "$R/tree"
rclone check tree "$R/tree"
rclone sync "$R/tree" tree.back
diff -r tree tree.back || fail "synced tree differs"
out=$(rclone sync -v tree "$R/tree" 2>&1)
lacks "$out" "Copied" "second sync"

step "presigned GET (rclone link) with curl"
url=$(rclone link --expire 5m "$R/small.bin")
contains "$url" "X-Amz-Signature=" "SigV4 presigned URL"
curl -sSf -o presigned.out "$url"
same_bytes small.bin presigned.out "presigned GET"

step "delete (rclone delete of a prefix, then purge)"
rclone delete "$R/dir"
out=$(rclone lsf -R "$R/dir" || true)
[ -z "$out" ] || fail "dir/ not empty after rclone delete: $out"
rclone purge "$R"
out=$(rclone lsd gw:)
lacks "$out" "$B" "bucket removed by purge"

echo "rclone scenario passed"
