# Shared helpers of the bash client scenarios (sourced, not run).
#
# Contract with tests/e2e/clients.rs, which runs each scenario against a fresh s3gate:
#   S3_ENDPOINT            http://127.0.0.1:PORT
#   AWS_ACCESS_KEY_ID      root access key of that gateway
#   AWS_SECRET_ACCESS_KEY  its secret
#   AWS_DEFAULT_REGION     the gateway's region (AWS_REGION too)
#   S3_BUCKET              a bucket name the scenario may create
#   WORK_DIR               an empty scratch directory
# A scenario prints what it does and exits non-zero at the first difference.

set -euo pipefail

: "${S3_ENDPOINT:?}" "${AWS_ACCESS_KEY_ID:?}" "${AWS_SECRET_ACCESS_KEY:?}" "${S3_BUCKET:?}"
: "${WORK_DIR:?}" "${AWS_DEFAULT_REGION:?}"

step() { printf -- '--- %s\n' "$*"; }

fail() {
    printf 'FAIL: %s\n' "$*" >&2
    exit 1
}

sha() { sha256sum "$1" | cut -d' ' -f1; }

# same_bytes EXPECTED ACTUAL WHAT: the two files hash alike.
same_bytes() {
    local want got
    want=$(sha "$1")
    got=$(sha "$2")
    [ "$want" = "$got" ] || fail "$3: sha256 $got, expected $want"
    printf '    %s: sha256 %s ok\n' "$3" "$got"
}

# random_file PATH BYTES
random_file() { head -c "$2" /dev/urandom >"$1"; }

# slice FILE OFFSET COUNT: COUNT bytes of FILE from OFFSET, to stdout.
slice() { dd if="$1" iflag=skip_bytes,count_bytes skip="$2" count="$3" bs=65536 status=none; }

# contains TEXT NEEDLE WHAT
contains() {
    case "$1" in
    *"$2"*) ;;
    *) fail "$3: '$2' not in output:
$1" ;;
    esac
}

# lacks TEXT NEEDLE WHAT
lacks() {
    case "$1" in
    *"$2"*) fail "$3: '$2' unexpectedly in output:
$1" ;;
    *) ;;
    esac
}

# A small directory tree for sync tests: nested folders, a space and a non-ASCII name, an
# empty file and one file above the CLI's multipart threshold's smallest setting.
make_tree() {
    local root=$1
    mkdir -p "$root/a/b/c" "$root/with space" "$root/ünï"
    random_file "$root/top.bin" 3000
    random_file "$root/a/one.bin" 10000
    random_file "$root/a/b/two.bin" 70000
    random_file "$root/a/b/c/three.bin" 1
    : >"$root/a/empty.txt"
    random_file "$root/with space/file name.txt" 512
    random_file "$root/ünï/ßß.dat" 4096
    for i in $(seq 1 12); do random_file "$root/a/b/many-$i.bin" $((i * 777)); done
}
