"""Unit tests of the ratchet (check.py). Standard library only:

    python3 -m unittest discover -s tests/conformance -p 'test_check.py'
"""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import check  # noqa: E402
from check import Outcome  # noqa: E402

CATS = check.Categories.parse(
    """# comment
= listing everyday ListObjects v1 and v2
= acl features ACLs, canned ACLs
test_list_a  listing
test_list_b  listing   # a trailing comment
test_acl_a   acl
test_acl_b   acl
"""
)

HEADER = "# the ratchet\n#\n"


def expected(body: str) -> check.Expected:
    return check.Expected.parse(HEADER + body)


def junit(*cases: str) -> str:
    return "<testsuites><testsuite>" + "".join(cases) + "</testsuite></testsuites>"


def case(name: str, inner: str = "") -> str:
    return f'<testcase classname="s3tests.functional.test_s3" name="{name}">{inner}</testcase>'


def outcomes(**status: str) -> dict[str, Outcome]:
    return {name: Outcome(s, "msg") for name, s in status.items()}


ALL_PASS = dict(test_list_a="passed", test_list_b="passed", test_acl_a="passed", test_acl_b="passed")


def run(results, exp, full=True, allow_todo=False) -> check.Report:
    return check.check(results, exp, CATS, full=full, allow_todo=allow_todo)


class ParseJunit(unittest.TestCase):
    def test_statuses(self):
        got = check.parse_junit(
            junit(
                case("test_list_a"),
                case("test_list_b", '<failure message="AssertionError: 1 == 2&#10;more">tb</failure>'),
                case("test_acl_a", '<error message="failed on setup">tb</error>'),
                case("test_acl_b", '<skipped type="pytest.skip" message="no api_name configured"/>'),
            )
        )
        self.assertEqual(
            got,
            {
                "test_list_a": Outcome("passed"),
                "test_list_b": Outcome("failed", "AssertionError: 1 == 2"),
                "test_acl_a": Outcome("error", "failed on setup"),
                "test_acl_b": Outcome("skipped", "no api_name configured"),
            },
        )

    def test_teardown_error_of_a_passed_test_counts(self):
        # pytest reports a passed call and a failed teardown as two testcase elements.
        got = check.parse_junit(
            junit(case("test_list_a"), case("test_list_a", '<error message="failed on teardown"/>'))
        )
        self.assertEqual(got["test_list_a"].status, "error")
        got = check.parse_junit(
            junit(case("test_list_a", '<failure message="x"/><error message="teardown"/>'))
        )
        self.assertEqual(got["test_list_a"], Outcome("error", "teardown"))

    def test_malformed(self):
        with self.assertRaises(check.InputError):
            check.parse_junit("<testsuites>")


class ParseInputs(unittest.TestCase):
    def test_categories(self):
        self.assertEqual(list(CATS.tests), ["test_list_a", "test_list_b", "test_acl_a", "test_acl_b"])
        self.assertEqual(CATS.categories["acl"].description, "ACLs, canned ACLs")
        self.assertEqual(CATS.categories["listing"].group, "everyday")

    def test_bad_categories(self):
        for text in (
            "test_x  nowhere\n",
            "= a everyday A\ntest_x a\ntest_x a\n",
            "= a everyday A\n= a everyday B\n",
            "= a everyday\n",
            "= a everyday A\ntest_x a extra\n",
        ):
            with self.subTest(text=text), self.assertRaises(check.InputError):
                check.Categories.parse(text)

    def test_entries(self):
        e = expected(
            "test_acl_a  # feature:acl: ACLs are not built\n"
            "test_list_b # stack:postgres-proxy: the proxy loses the content type\n"
            "test_list_a  # deviation: NextMarker without a delimiter\n"
        )
        self.assertEqual(e.problems, [])
        self.assertEqual(e.header, ["# the ratchet", "#"])
        self.assertEqual(e.entries["test_acl_a"].area, "feature:acl")
        self.assertIsNone(e.entries["test_acl_a"].stack)
        self.assertEqual(e.entries["test_list_b"].stack, "postgres-proxy")
        self.assertTrue(e.entries["test_list_b"].applies_to("postgres-proxy"))
        self.assertFalse(e.entries["test_list_b"].applies_to("sqlite"))
        self.assertEqual(e.entries["test_list_a"].area, "deviation")

    def test_bad_entries(self):
        for body, problem in (
            ("test_acl_a\n", "no `# cause`"),
            ("test_acl_a  #\n", "no `# cause`"),
            ("test_acl_a  # acl is missing\n", "cause must start with"),
            ("test_acl_a  # feature: no area\n", "cause must start with"),
            ("test_acl_a  # stack:mysql: no such stack\n", "unknown stack mysql"),
            ("test_acl_a test_acl_b  # client: two names\n", "one test name expected"),
            ("test_acl_a  # client: x\ntest_acl_a  # client: y\n", "listed twice"),
        ):
            with self.subTest(body=body):
                e = expected(body)
                self.assertTrue(any(problem in p for p in e.problems), e.problems)
                self.assertFalse(run({"sqlite": outcomes(**ALL_PASS)}, e).ok)


class Check(unittest.TestCase):
    def test_all_pass_nothing_expected(self):
        rep = run({"sqlite": outcomes(**ALL_PASS)}, expected(""))
        self.assertTrue(rep.ok, rep.text())
        self.assertIn("conformance: OK", rep.text())

    def test_expected_failures_hold(self):
        res = dict(ALL_PASS, test_acl_a="failed", test_acl_b="error")
        exp = expected("test_acl_a  # feature:acl: x\ntest_acl_b  # feature:acl: y\n")
        rep = run({"sqlite": outcomes(**res), "postgres-proxy": outcomes(**res)}, exp)
        self.assertTrue(rep.ok, rep.text())

    def test_regression(self):
        rep = run({"sqlite": outcomes(**dict(ALL_PASS, test_list_a="failed"))}, expected(""))
        self.assertFalse(rep.ok)
        self.assertEqual(rep.regressions, ["[sqlite] test_list_a: failed: msg"])
        self.assertIn("REGRESSIONS", rep.text())

    def test_error_is_a_regression(self):
        rep = run({"sqlite": outcomes(**dict(ALL_PASS, test_list_a="error"))}, expected(""))
        self.assertEqual(len(rep.regressions), 1)

    def test_now_passing(self):
        rep = run({"sqlite": outcomes(**ALL_PASS)}, expected("test_acl_a  # feature:acl: x\n"))
        self.assertFalse(rep.ok)
        self.assertEqual(rep.now_passing, ["[sqlite] test_acl_a  # feature:acl: x"])
        self.assertIn("NOW PASSING: remove", rep.text())

    def test_both_lists_are_printed(self):
        rep = run(
            {"sqlite": outcomes(**dict(ALL_PASS, test_list_a="failed"))},
            expected("test_acl_a  # feature:acl: x\n"),
        )
        text = rep.text()
        self.assertIn("[sqlite] test_list_a", text)
        self.assertIn("[sqlite] test_acl_a", text)

    def test_unattributed_skip_is_a_regression(self):
        rep = run({"sqlite": outcomes(**dict(ALL_PASS, test_list_b="skipped"))}, expected(""))
        self.assertEqual(rep.regressions, ["[sqlite] test_list_b: skipped: msg"])

    def test_attributed_skip_is_reported(self):
        rep = run(
            {"sqlite": outcomes(**dict(ALL_PASS, test_list_b="skipped"))},
            expected("test_list_b  # client: needs a region other than us-east-1\n"),
        )
        self.assertTrue(rep.ok, rep.text())
        self.assertEqual(len(rep.skipped), 1)
        self.assertIn("skipped (attributed", rep.text())

    def test_stack_line_applies_to_its_stack_only(self):
        exp = expected("test_list_a  # stack:postgres-proxy: x\n")
        fails_pp = {
            "sqlite": outcomes(**ALL_PASS),
            "postgres-proxy": outcomes(**dict(ALL_PASS, test_list_a="failed")),
        }
        self.assertTrue(run(fails_pp, exp).ok)
        fails_both = {s: outcomes(**dict(ALL_PASS, test_list_a="failed")) for s in fails_pp}
        rep = run(fails_both, exp)
        self.assertEqual(rep.regressions, ["[sqlite] test_list_a: failed: msg"])
        rep = run({s: outcomes(**ALL_PASS) for s in fails_pp}, exp)
        self.assertEqual(rep.now_passing, ["[postgres-proxy] test_list_a  # stack:postgres-proxy: x"])
        # A sqlite-only run does not expect the postgres-proxy failure.
        self.assertTrue(run({"sqlite": outcomes(**ALL_PASS)}, exp).ok)

    def test_todo_refused_unless_allowed(self):
        res = {"sqlite": outcomes(**dict(ALL_PASS, test_acl_a="failed"))}
        exp = expected("test_acl_a  # TODO-cause\n")
        rep = run(res, exp)
        self.assertFalse(rep.ok)
        self.assertIn("test_acl_a: cause is TODO-cause: attribute it", rep.problems)
        self.assertTrue(run(res, exp, allow_todo=True).ok)
        self.assertFalse(run(res, expected("test_acl_a  # stack:sqlite: TODO-cause\n")).ok)

    def test_stale_line(self):
        rep = run({"sqlite": outcomes(**ALL_PASS)}, expected("test_gone  # client: x\n"))
        self.assertIn("test_gone: in expected-failures.txt but not a selected test", rep.problems)

    def test_uncategorized_result(self):
        rep = run({"sqlite": outcomes(**dict(ALL_PASS, test_new="passed"))}, expected(""))
        self.assertEqual(rep.problems, ["[sqlite] test_new: not in categories.txt (passed)"])

    def test_missing_results_only_in_full_runs(self):
        res = {"sqlite": outcomes(test_list_a="passed")}
        rep = run(res, expected(""))
        self.assertEqual(len(rep.problems), 3)
        self.assertIn("[sqlite] test_acl_b: selected but has no result", rep.problems)
        self.assertTrue(run(res, expected(""), full=False).ok)


class RewriteExpected(unittest.TestCase):
    def rewrite(self, results, body):
        new, todo = check.rewrite_expected(results, expected(body), CATS)
        return new.render(list(CATS.tests)), todo

    def test_keeps_causes_adds_todo_drops_passing(self):
        both = dict(ALL_PASS, test_list_b="failed", test_acl_a="failed", test_acl_b="skipped")
        text, todo = self.rewrite(
            {"sqlite": outcomes(**both), "postgres-proxy": outcomes(**both)},
            "test_acl_b  # feature:acl: kept\ntest_list_a  # client: now passes\n",
        )
        self.assertEqual(
            text,
            HEADER
            + "test_list_b  # TODO-cause\n"
            + "test_acl_a   # TODO-cause\n"
            + "test_acl_b   # feature:acl: kept\n",
        )
        self.assertEqual(todo, 2)

    def test_stack_scope(self):
        res = {
            "sqlite": outcomes(**ALL_PASS),
            "postgres-proxy": outcomes(**dict(ALL_PASS, test_list_a="failed", test_acl_a="failed")),
        }
        text, todo = self.rewrite(
            res, "test_list_a  # stack:postgres-proxy: kept\ntest_acl_a  # feature:acl: was both\n"
        )
        self.assertEqual(
            text,
            HEADER
            + "test_list_a  # stack:postgres-proxy: kept\n"
            + "test_acl_a   # stack:postgres-proxy: TODO-cause\n",
        )
        self.assertEqual(todo, 1)
        # Now failing on both: a stack-only cause no longer holds.
        both = {s: outcomes(**dict(ALL_PASS, test_list_a="failed")) for s in res}
        text, todo = self.rewrite(both, "test_list_a  # stack:postgres-proxy: kept\n")
        self.assertEqual(text, HEADER + "test_list_a  # TODO-cause\n")

    def test_tests_not_run_keep_their_line(self):
        res = {s: outcomes(test_list_a="passed") for s in ("sqlite", "postgres-proxy")}
        text, todo = self.rewrite(res, "test_acl_a  # feature:acl: not run\ntest_list_a  # client: x\n")
        self.assertEqual(text, HEADER + "test_acl_a  # feature:acl: not run\n")
        self.assertEqual(todo, 0)

    def test_result_satisfies_check(self):
        res = {
            "sqlite": outcomes(**dict(ALL_PASS, test_list_b="failed", test_acl_b="skipped")),
            "postgres-proxy": outcomes(**dict(ALL_PASS, test_list_b="failed", test_acl_a="error")),
        }
        new, _ = check.rewrite_expected(res, expected("test_list_a  # client: x\n"), CATS)
        reparsed = check.Expected.parse(new.render(list(CATS.tests)))
        self.assertTrue(run(res, reparsed, allow_todo=True).ok)
        self.assertFalse(run(res, reparsed).ok)


class Table(unittest.TestCase):
    def test_table(self):
        res = dict(ALL_PASS, test_acl_a="failed", test_acl_b="failed")
        exp = expected(
            "test_acl_a  # feature:acl: x\ntest_acl_b  # feature:acl: y\n"
            "test_list_b  # stack:postgres-proxy: z\n"
        )
        results = {
            "sqlite": outcomes(**res),
            "postgres-proxy": outcomes(**dict(res, test_list_b="failed")),
        }
        self.assertTrue(run(results, exp).ok)
        self.assertEqual(
            check.table(results, exp, CATS),
            "| category | tests | passed (sqlite) | passed (postgres-proxy) | expected failures by cause |\n"
            "| --- | --- | --- | --- | --- |\n"
            "| listing: ListObjects v1 and v2 | 2 | 2 | 1 | stack:postgres-proxy 1 |\n"
            "| **everyday (subtotal)** | **2** | **2** | **1** | **stack:postgres-proxy 1** |\n"
            "| acl: ACLs, canned ACLs | 2 | 0 | 0 | feature:acl 2 |\n"
            "| **features (subtotal)** | **2** | **0** | **0** | **feature:acl 2** |\n"
            "| **all selected tests** | **4** | **2** | **1** | **feature:acl 2, stack:postgres-proxy 1** |\n",
        )

    def test_replace_between_markers(self):
        doc = f"intro\n{check.TABLE_BEGIN}\nold\n{check.TABLE_END}\nafter\n"
        self.assertEqual(
            check.replace_table(doc, "| new |\n"),
            f"intro\n{check.TABLE_BEGIN}\n\n| new |\n\n{check.TABLE_END}\nafter\n",
        )
        with self.assertRaises(check.InputError):
            check.replace_table("no markers\n", "| new |\n")


class CommittedFiles(unittest.TestCase):
    """The committed ratchet and categories parse, agree, and carry no TODO, so a bad edit
    fails here in a second rather than after a 15-minute run."""

    def test_committed_files(self):
        here = Path(__file__).resolve().parent
        cats = check.Categories.parse((here / "categories.txt").read_text())
        exp = check.Expected.parse((here / "expected-failures.txt").read_text())
        self.assertEqual(exp.problems, [])
        self.assertEqual([t for t in exp.entries if t not in cats.tests], [])
        self.assertEqual([t for t, e in exp.entries.items() if e.is_todo], [])
        # Lines are kept in suite order, as --write-expected writes them (alignment is free:
        # deleting the longest name must not fail this test).
        order = list(cats.tests)
        self.assertEqual(list(exp.entries), sorted(exp.entries, key=order.index))


class CommandLine(unittest.TestCase):
    def test_exit_codes(self):
        import contextlib
        import io
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            d = Path(d)
            (d / "cats.txt").write_text("= listing everyday L\ntest_list_a listing\n")
            (d / "exp.txt").write_text(HEADER)
            (d / "ok.xml").write_text(junit(case("test_list_a")))
            (d / "bad.xml").write_text(junit(case("test_list_a", '<failure message="x"/>')))
            args = ["--expected", str(d / "exp.txt"), "--categories", str(d / "cats.txt")]
            out, err = io.StringIO(), io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                self.assertEqual(check.main(["--junit", f"sqlite={d / 'ok.xml'}", *args]), 0)
                self.assertEqual(check.main(["--junit", f"sqlite={d / 'bad.xml'}", *args]), 1)
                self.assertEqual(check.main(["--junit", f"sqlite={d / 'none.xml'}", *args]), 2)
            self.assertIn("[sqlite] test_list_a: failed: x", out.getvalue())
            self.assertIn("none.xml", err.getvalue())


if __name__ == "__main__":
    unittest.main()
