#!/usr/bin/env bash
# rclone versioning scenario (issue 17): `rclone backend versioning`, listing and reading old
# versions with --s3-versions, deletes that leave versions behind, `backend cleanup-hidden`.
. "$(dirname "$0")/lib.sh"

cd "$WORK_DIR"
export HOME="$WORK_DIR"
export RCLONE_CONFIG="$WORK_DIR/rclone.conf"
: >"$RCLONE_CONFIG"
export RCLONE_CONFIG_GW_TYPE=s3 RCLONE_CONFIG_GW_PROVIDER=Other
export RCLONE_CONFIG_GW_ENDPOINT="$S3_ENDPOINT"
export RCLONE_CONFIG_GW_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID"
export RCLONE_CONFIG_GW_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY"
export RCLONE_CONFIG_GW_REGION="$AWS_DEFAULT_REGION"
export RCLONE_CONFIG_GW_FORCE_PATH_STYLE=true
export RCLONE_LOW_LEVEL_RETRIES=1 RCLONE_RETRIES=1
R="gw:$S3_BUCKET-versions"

step "version: $(rclone version | sed -n 1p)"

step "enable versioning (rclone backend versioning)"
rclone mkdir "$R"
out=$(rclone backend versioning "$R" Enabled)
contains "$out" "Enabled" "rclone backend versioning Enabled"
out=$(rclone backend versioning "$R")
contains "$out" "Enabled" "rclone backend versioning"

step "overwrite a file: --s3-versions shows the old version beside the current one"
printf 'first' | rclone rcat "$R/file.txt"
sleep 1
printf 'second' | rclone rcat "$R/file.txt"
out=$(rclone lsf "$R")
[ "$out" = file.txt ] || fail "plain listing: $out"
out=$(rclone lsf --s3-versions "$R")
[ "$(echo "$out" | wc -l)" = 2 ] || fail "--s3-versions lists two entries: $out"
old=$(echo "$out" | grep -- '-v[0-9]')
[ -n "$old" ] || fail "no version-stamped name in: $out"
[ "$(rclone cat --s3-versions "$R/$old")" = first ] || fail "reading $old"
[ "$(rclone cat "$R/file.txt")" = second ] || fail "reading the current version"

step "delete: the current listing is empty, the versions stay"
rclone deletefile "$R/file.txt"
out=$(rclone lsf "$R")
[ -z "$out" ] || fail "listing after the delete: $out"
out=$(rclone lsf --s3-versions "$R")
[ "$(echo "$out" | grep -c -- '-v[0-9]')" = 2 ] || fail "both versions stay: $out"

step "rclone backend cleanup-hidden removes the old versions"
rclone backend cleanup-hidden "$R"
out=$(rclone lsf --s3-versions "$R")
[ -z "$out" ] || fail "versions left after cleanup-hidden: $out"
rclone rmdir "$R"
echo "rclone versioning scenario passed"
