#!/usr/bin/env python3
"""Runs the ceph/s3-tests selection against the real s3gate binary and applies the ratchet.

Started by run.sh inside the suite's virtualenv (boto3 comes from there). For each stack:

- sqlite: `s3gate serve` with its embedded defaults (SQLite metadata, disk blobs) on a
  temporary data directory;
- postgres-proxy: PostgreSQL metadata in a fresh database (created here and dropped after)
  and the S3 proxy backend, whose upstream is a second s3gate (disk backend) started here.

Each gateway listens on 127.0.0.1:0 with known root keys; the alt and tenant users are
created with `s3gate user add`; the owner ids and display names written into s3tests.conf
are the ones the gateway reports in ListBuckets. The suite is copied to a scratch directory
(../shared is read-only in CI) and pytest writes its junit xml there. check.py then compares
the results with expected-failures.txt.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import check

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REGION = "us-east-1"

#: The selection whose figure is published (../shared/conformance/README.md): 635 tests.
MARKERS = (
    "not (fails_on_aws or appendobject"
    " or bucket_logging or bucket_logging_cleanup or fails_without_logging_rollover"
    " or lifecycle_expiration or lifecycle_transition or cloud_transition or cloud_restore"
    " or target_by_bucket"
    " or s3website or s3website_routing_rules or s3website_redirect_location"
    " or s3select or sns or test_of_sts or webidentity_test or session_policy or abac_test"
    " or token_claims_trust_policy_test or token_principal_tag_role_policy_test"
    " or token_request_tag_trust_policy_test"
    " or token_resource_tags_test or token_role_tags_test or token_tag_keys_test"
    " or iam_account or iam_cross_account or iam_role or iam_tenant or iam_user"
    " or user_policy or role_policy or group or group_policy)"
)
MODULES = ["s3tests/functional/test_s3.py", "s3tests/functional/test_headers.py"]


def log(msg: str) -> None:
    print(f"[conformance] {msg}", flush=True)


def keys(prefix: str) -> tuple[str, str]:
    return f"AK{prefix.upper()}{secrets.token_hex(6).upper()}", secrets.token_hex(20)


class Gateway:
    """A running `s3gate serve`; its stderr goes to `log_path`."""

    def __init__(self, binary: Path, data_dir: Path, log_path: Path, ak: str, sk: str,
                 extra: list[str], env: dict[str, str] | None = None) -> None:
        self.data_dir, self.access_key, self.secret_key = data_dir, ak, sk
        self.log_path = log_path
        data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "wb")
        full_env = dict(os.environ, S3GATE_ACCESS_KEY=ak, S3GATE_SECRET_KEY=sk, S3GATE_LOG="info",
                        NO_COLOR="1")
        full_env.update(env or {})
        cmd = [str(binary), "serve", "--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0",
               "--region", REGION, "--data-dir", str(data_dir), *extra]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=self._log, env=full_env)
        found: list[int] = []
        ready = threading.Event()

        def read_stdout() -> None:
            assert self.proc.stdout is not None
            for raw in self.proc.stdout:
                line = raw.decode(errors="replace")
                marker = "listening on http://127.0.0.1:"
                if not found and marker in line:
                    digits = "".join(
                        c for c in line.split(marker, 1)[1].split()[0] if c.isdigit())
                    found.append(int(digits))
                    ready.set()
            ready.set()

        threading.Thread(target=read_stdout, daemon=True).start()
        ready.wait(60)
        if not found:
            self.stop()
            raise RuntimeError(
                f"s3gate did not start ({' '.join(cmd)}); its log:\n{self.log_tail()}")
        self.port = found[0]
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def log_tail(self, n: int = 40) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


def s3_client(endpoint: str, ak: str, sk: str):
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=ak,
                        aws_secret_access_key=sk, region_name=REGION,
                        config=Config(signature_version="s3v4", retries={"max_attempts": 1}))


def owner_of(endpoint: str, ak: str, sk: str) -> tuple[str, str]:
    """The (ID, DisplayName) the gateway reports for these keys."""
    owner = s3_client(endpoint, ak, sk).list_buckets()["Owner"]
    return owner["ID"], owner.get("DisplayName", owner["ID"])


def psql(url: str, sql: str) -> None:
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


class Stack:
    """One configuration of the gateway under test, with everything it started."""

    def __init__(self, name: str, binary: Path, work: Path, pg_url: str) -> None:
        self.name, self.binary, self.work, self.pg_url = name, binary, work, pg_url
        self.gateways: list[Gateway] = []
        self.database: str | None = None
        self.meta_args: list[str] = []

    def start(self) -> Gateway:
        data = self.work / "data"
        extra: list[str] = []
        env: dict[str, str] = {}
        if self.name == "postgres-proxy":
            up_ak, up_sk = keys("up")
            upstream = Gateway(self.binary, self.work / "upstream-data",
                               self.work / "upstream.log", up_ak, up_sk, [])
            self.gateways.append(upstream)
            s3_client(upstream.endpoint, up_ak, up_sk).create_bucket(Bucket="blobs")
            self.database = f"s3gate_conformance_{os.getpid()}_{secrets.token_hex(3)}"
            psql(self.pg_url, f'CREATE DATABASE "{self.database}"')
            parts = urllib.parse.urlsplit(self.pg_url)
            meta_url = urllib.parse.urlunsplit(parts._replace(path="/" + self.database))
            self.meta_args = ["--metadata", meta_url]
            extra = self.meta_args + [
                "--backend", "s3", "--upstream-endpoint", upstream.endpoint,
                "--upstream-bucket", "blobs", "--upstream-prefix", "conformance/"]
            env = {"S3GATE_UPSTREAM_ACCESS_KEY": up_ak, "S3GATE_UPSTREAM_SECRET_KEY": up_sk}
        # The suite talks plain HTTP on loopback; its SSE-C cases need the operator switch that
        # accepts customer keys without TLS (ceph runs them with rgw_crypt_require_ssl=false).
        env["S3GATE_ALLOW_SSE_C_OVER_HTTP"] = "true"
        # The suite predates AWS's April 2026 default that blocks SSE-C writes on new buckets
        # (BlockedEncryptionTypes): it writes SSE-C objects to fresh buckets, so the run allows
        # SSE-C where a bucket does not choose, as AWS did when the suite was written.
        env["S3GATE_SSE_C_DEFAULT"] = "allowed"
        ak, sk = keys("root")
        gw = Gateway(self.binary, data, self.work / "gateway.log", ak, sk, extra, env)
        self.gateways.append(gw)
        return gw

    def add_user(self, gw: Gateway, name: str) -> tuple[str, str]:
        ak, sk = keys(name)
        subprocess.run([str(self.binary), "user", "add", name, "--access-key", ak,
                        "--secret-key", sk, "--data-dir", str(gw.data_dir), *self.meta_args],
                       check=True, stdout=subprocess.DEVNULL)
        return ak, sk

    def add_kms_key(self, gw: Gateway, key_id: str) -> None:
        """Creates a key of the built-in KMS (the suite's `kms_keyid`s) in the gateway's
        metadata, as an operator would."""
        subprocess.run([str(self.binary), "kms", "create-key", "--key-id", key_id,
                        "--data-dir", str(gw.data_dir), *self.meta_args],
                       check=True, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        for gw in reversed(self.gateways):
            gw.stop()
        if self.database is not None:
            try:
                psql(self.pg_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')
            except subprocess.CalledProcessError as e:
                log(f"could not drop database {self.database}: {e}")


def write_conf(path: Path, gw: Gateway, users: dict[str, tuple[str, str]]) -> None:
    values = {"HOST": "127.0.0.1", "PORT": str(gw.port)}
    for role, (ak, sk) in users.items():
        uid, display = owner_of(gw.endpoint, ak, sk)
        values.update({f"{role}_ACCESS_KEY": ak, f"{role}_SECRET_KEY": sk,
                       f"{role}_USER_ID": uid, f"{role}_DISPLAY_NAME": display})
    text = (HERE / "s3tests.conf.in").read_text()
    for k, v in values.items():
        text = text.replace(f"@{k}@", v)
    if re.search(r"@[A-Z_]+@", text):
        raise RuntimeError("s3tests.conf.in has a placeholder run.py does not fill")
    path.write_text(text)


def pytest_env(conf: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        env.pop(k, None)
    env.update({
        "S3TEST_CONF": str(conf),
        "AWS_DEFAULT_REGION": REGION,
        # The suite's clients must not read the machine's AWS configuration.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "NO_PROXY": "127.0.0.1,localhost",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE), env.get("PYTHONPATH")])),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def run_stack(name: str, args: argparse.Namespace, scratch: Path) -> Path:
    """Runs the selection on one stack; returns the junit file."""
    work = scratch / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    suite = work / "s3-tests"
    shutil.copytree(args.suite, suite, ignore=shutil.ignore_patterns("__pycache__", ".tox", "*.egg-info"))
    junit = work / "junit.xml"
    stack = Stack(name, args.binary, work, args.postgres_url)
    started = time.monotonic()
    try:
        gw = stack.start()
        users = {"MAIN": (gw.access_key, gw.secret_key),
                 "ALT": stack.add_user(gw, "alt"),
                 "TENANT": stack.add_user(gw, "tenant")}
        # The suite's SSE-KMS cases name these keys (kms_keyid, kms_keyid2 in s3tests.conf).
        for key_id in ("testkey-1", "testkey-2"):
            stack.add_kms_key(gw, key_id)
        conf = work / "s3tests.conf"
        write_conf(conf, gw, users)
        cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider",
               "-m", MARKERS, f"--timeout={args.timeout}", "--junitxml", str(junit),
               "-o", "junit_family=xunit2", "-o", "junit_logging=no", "-q", "--tb=no",
               "-rN", "--color=no", *MODULES]
        if args.k:
            cmd += ["-k", args.k]
        log(f"{name}: gateway {gw.endpoint}, running the suite (logs in {work})")
        with open(work / "pytest.log", "wb") as out:
            rc = subprocess.run(cmd, cwd=suite, env=pytest_env(conf), stdout=out,
                                stderr=subprocess.STDOUT).returncode
        tail = (work / "pytest.log").read_text(errors="replace").strip().splitlines()[-1:]
        log(f"{name}: pytest exit {rc} after {time.monotonic() - started:.0f} s: {' '.join(tail)}")
        if rc not in (0, 1) or not junit.exists():
            # 2-5: interrupted, internal error, usage error, nothing collected.
            raise RuntimeError(f"pytest failed to run (exit {rc}); see {work / 'pytest.log'}")
        for gw in stack.gateways:
            if gw.proc.poll() is not None:
                raise RuntimeError(f"s3gate exited during the run ({gw.proc.returncode}):\n"
                                   f"{gw.log_tail()}")
    finally:
        stack.stop()
        shutil.rmtree(work / "data", ignore_errors=True)
        shutil.rmtree(work / "upstream-data", ignore_errors=True)
        shutil.rmtree(suite, ignore_errors=True)
    return junit


def main() -> int:
    p = argparse.ArgumentParser(description="Run ceph/s3-tests against s3gate (see run.sh).")
    p.add_argument("--binary", type=Path, help="the s3gate binary to test")
    p.add_argument("--stack", choices=[*check.STACKS, "all"], default="all")
    p.add_argument("-k", help="pytest -k expression: run a subset (the ratchet is checked "
                              "for the tests that ran)")
    p.add_argument("--suite", type=Path, default=REPO.parent / "shared" / "conformance" / "s3-tests",
                   help="the ceph/s3-tests snapshot (read only: it is copied)")
    p.add_argument("--scratch", type=Path, required=True,
                   help="directory for the suite copy, data, logs and junit results")
    p.add_argument("--timeout", type=int, default=int(os.environ.get("S3GATE_CONFORMANCE_TIMEOUT", 300)),
                   help="seconds one test may take (pytest-timeout)")
    p.add_argument("--postgres-url", default=os.environ.get(
        "S3GATE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres"),
        help="a database of the server to create the stack's database in")
    p.add_argument("--update-docs", action="store_true",
                   help="rewrite the table in docs/s3-compat.md (after a passing check)")
    p.add_argument("--write-expected", action="store_true",
                   help="rewrite expected-failures.txt from this run (needs --stack all)")
    p.add_argument("--junit", action="append", default=[], metavar="STACK=FILE",
                   help="check existing results (e.g. target/conformance/sqlite/junit.xml) "
                        "instead of running the suite")
    args = p.parse_args()
    if args.binary is None and not args.junit:
        p.error("--binary is required (unless --junit names existing results)")
    stacks = list(check.STACKS) if args.stack == "all" else [args.stack]
    if args.write_expected and args.stack != "all":
        p.error("--write-expected needs --stack all: a line's stack scope needs both results")
    if args.update_docs and (args.stack != "all" or args.k):
        p.error("--update-docs needs the whole selection on --stack all")

    expected_path, cats_path = HERE / "expected-failures.txt", HERE / "categories.txt"
    cats = check.Categories.parse(cats_path.read_text())
    expected = check.Expected.parse(expected_path.read_text())

    junits: dict[str, Path] = {}
    if args.junit:
        for spec in args.junit:
            s, _, f = spec.partition("=")
            junits[s] = Path(f)
    else:
        args.binary = args.binary.resolve()
        if not args.binary.is_file():
            p.error(f"no s3gate binary at {args.binary}")
        if not (args.suite / "s3tests").is_dir():
            p.error(f"the suite is not at {args.suite}")
        args.scratch.mkdir(parents=True, exist_ok=True)
        for s in stacks:
            junits[s] = run_stack(s, args, args.scratch)
    results = {s: check.parse_junit(f.read_text()) for s, f in junits.items()}

    if args.write_expected:
        new, todo = check.rewrite_expected(results, expected, cats)
        expected_path.write_text(new.render(list(cats.tests)))
        log(f"wrote {expected_path}: {len(new.entries)} lines, {todo} marked {check.TODO}")
        expected = new
    report = check.check(results, expected, cats, full=not args.k,
                         allow_todo=args.write_expected)
    print(report.text(), flush=True)
    if not args.junit:
        log(f"junit results, pytest output and gateway logs: {args.scratch}/STACK/")
    if args.update_docs:
        if not report.ok:
            log("docs/s3-compat.md not updated: the check failed")
        else:
            doc = REPO / "docs" / "s3-compat.md"
            doc.write_text(check.replace_table(doc.read_text(), check.table(results, expected, cats)))
            log(f"updated the table in {doc}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
