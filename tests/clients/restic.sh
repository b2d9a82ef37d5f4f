#!/usr/bin/env bash
# restic scenario (Debian's package; issue 17): a restic repository on a versioned bucket.
# init, two backups, forget --prune (its deletes become delete markers), check --read-data,
# restore byte for byte; the pruned pack files are still there as noncurrent versions.
. "$(dirname "$0")/lib.sh"

cd "$WORK_DIR"
export HOME="$WORK_DIR" RESTIC_PASSWORD="s3gate-test-password" RESTIC_CACHE_DIR="$WORK_DIR/cache"
export AWS_CONFIG_FILE="$WORK_DIR/aws-config" AWS_SHARED_CREDENTIALS_FILE="$WORK_DIR/aws-credentials"
printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n' "$AWS_DEFAULT_REGION" >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws() { command aws --endpoint-url "$S3_ENDPOINT" "$@"; }
B="$S3_BUCKET-restic"
export RESTIC_REPOSITORY="s3:$S3_ENDPOINT/$B"

step "version: $(restic version)"

step "a versioned bucket for the repository"
aws s3api create-bucket --bucket "$B" >/dev/null
aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Enabled

step "restic init and a first backup"
restic init
make_tree src
restic backup --host ci src
step "change the tree, second backup, forget the first and prune"
rm -rf src/a/b/c
random_file src/new.bin 200000
restic backup --host ci src
restic forget --keep-last 1 --prune
n=$(restic snapshots --json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
[ "$n" = 1 ] || fail "$n snapshots after forget --keep-last 1"

step "restic check --read-data"
restic check --read-data

step "restore and compare every file"
restic restore latest --target restored
# restic keeps the path it was given (relative or absolute, by version): find where src landed.
rdir=$(find "$WORK_DIR/restored" -type d -name src | head -1)
[ -n "$rdir" ] || fail "no src directory in the restore"
( cd src && find . -type f | sort ) >want.list
( cd "$rdir" && find . -type f | sort ) >got.list
cmp -s want.list got.list || fail "restored files differ: $(diff want.list got.list | head)"
while read -r f; do same_bytes "src/$f" "$rdir/$f" "restored $f"; done <want.list

step "what prune deleted is still in the bucket as noncurrent versions"
out=$(aws s3api list-object-versions --bucket "$B" \
    --query '[length(DeleteMarkers || `[]`), length(Versions[?IsLatest==`false`] || `[]`)]' --output text)
set -- $out
[ "$1" -gt 0 ] && [ "$2" -gt 0 ] || fail "expected delete markers and noncurrent versions, got $out"
printf '    %s delete markers, %s noncurrent versions\n' "$1" "$2"
echo "restic scenario passed"
