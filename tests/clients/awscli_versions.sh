#!/usr/bin/env bash
# AWS CLI versioning scenario (issue 17): put-bucket-versioning, list-object-versions (with its
# own pagination over more than one page), get-object --version-id, delete markers, suspend.
. "$(dirname "$0")/lib.sh"

cd "$WORK_DIR"
export HOME="$WORK_DIR"
export AWS_CONFIG_FILE="$WORK_DIR/aws-config"
export AWS_SHARED_CREDENTIALS_FILE="$WORK_DIR/aws-credentials"
printf '[default]\nregion = %s\ns3 =\n    addressing_style = path\n' "$AWS_DEFAULT_REGION" >"$AWS_CONFIG_FILE"
: >"$AWS_SHARED_CREDENTIALS_FILE"
aws() { command aws --endpoint-url "$S3_ENDPOINT" "$@"; }
B="$S3_BUCKET-versions"

step "version: $(command aws --version 2>&1)"

step "enable versioning"
aws s3api create-bucket --bucket "$B" >/dev/null
aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Enabled
[ "$(aws s3api get-bucket-versioning --bucket "$B" --query Status --output text)" = Enabled ] ||
    fail "get-bucket-versioning"

step "three versions of one key, then a delete marker"
for i in 1 2 3; do
    printf 'v%s' "$i" >"v$i.txt"
    aws s3api put-object --bucket "$B" --key doc.txt --body "v$i.txt" --query VersionId --output text >>ids
done
[ "$(sort -u ids | wc -l)" = 3 ] || fail "three distinct version ids: $(cat ids)"
first=$(sed -n 1p ids)
aws s3api delete-object --bucket "$B" --key doc.txt >/dev/null
out=$(aws s3api list-object-versions --bucket "$B" --prefix doc.txt \
    --query '[length(Versions), length(DeleteMarkers), DeleteMarkers[0].IsLatest]' --output text)
[ "$(echo $out)" = "3 1 True" ] || fail "list-object-versions: $out"
if aws s3api head-object --bucket "$B" --key doc.txt >/dev/null 2>&1; then
    fail "head-object of a key hidden by a marker succeeded"
fi
aws s3api get-object --bucket "$B" --key doc.txt --version-id "$first" old.txt >/dev/null
same_bytes v1.txt old.txt "get-object --version-id of the oldest version"

step "list-object-versions paginates: 25 versions at --page-size 4 (7 requests)"
for i in $(seq 1 25); do
    printf '%s' "$i" >n.txt
    aws s3api put-object --bucket "$B" --key many --body n.txt >/dev/null
done
n=$(aws s3api list-object-versions --bucket "$B" --prefix many --page-size 4 \
    --query 'Versions[].VersionId' --output text | wc -w)
[ "$n" = 25 ] || fail "paginated list-object-versions found $n versions, expected 25"
n=$(aws s3api list-object-versions --bucket "$B" --prefix many --max-items 10 \
    --query 'Versions[].VersionId' --output text | sed -n 1p | wc -w)
[ "$n" = 10 ] || fail "--max-items 10 gave $n"

step "suspend; the null version"
aws s3api put-bucket-versioning --bucket "$B" --versioning-configuration Status=Suspended
aws s3api put-object --bucket "$B" --key doc.txt --body v2.txt >/dev/null
out=$(aws s3api list-object-versions --bucket "$B" --prefix doc.txt \
    --query 'Versions[?IsLatest].VersionId' --output text)
[ "$out" = null ] || fail "latest version after a suspended write is '$out', expected null"

step "clean up every version and marker, then the bucket"
aws s3api list-object-versions --bucket "$B" --output json \
    --query '{Objects: [Versions[].{Key: Key, VersionId: VersionId}, DeleteMarkers[].{Key: Key, VersionId: VersionId}][]}' >all.json
aws s3api delete-objects --bucket "$B" --delete file://all.json >/dev/null
aws s3api delete-bucket --bucket "$B"
echo "awscli versioning scenario passed"
