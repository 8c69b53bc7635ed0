#!/usr/bin/env python3
"""Runs the TaskFlow integration tests against a real server binary and PostgreSQL.

  python3 tests/integration/run.py --bin BUILD/taskflow \
      --pg-admin "host=127.0.0.1 port=P user=taskflow dbname=postgres" [-k PATTERN] [--keep]

Every test module test_*.py gets, unless it says SERVER = "none", a fresh database (created with
createdb, migrated with `taskflow migrate`) and its own `taskflow serve` process, started with
HOST=127.0.0.1 PORT=<free> DATABASE_URL=... JWT_SECRET=<random 48> CORS_ORIGINS=http://allowed.example
LOG_LEVEL=warn THREADS=2 (plus what the module's server_env() returns), awaited on GET /health and
stopped with SIGTERM afterwards (its exit status must be 0: that is counted as one more test).
Modules with SERVER = "none" start what they need through harness. A module may also define
module_setup(), called before anything else of the module (its database and server included:
to start a process the server needs, such as a broker), and module_teardown(), called after
everything else (its server stopped), also when setup failed.

The last line printed is exactly "N passed, N failed"; the exit status is 1 if anything failed.
"""

import argparse
import importlib
import os
import shutil
import sys
import tempfile
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.dont_write_bytecode = True   # leave no __pycache__ in the source tree
sys.path.insert(0, HERE)

import harness as H  # noqa: E402


class Outcome:
    def __init__(self):
        self.passed = 0
        self.failed = []      # (name, text)
        self.skipped = 0
        self.failed_modules = set()

    def fail(self, name, text, module=None):
        self.failed.append((name, text))
        if module:
            self.failed_modules.add(module)


class Result(unittest.TextTestResult):
    def __init__(self, outcome, module, stream):
        super().__init__(stream, descriptions=False, verbosity=2)
        self.outcome = outcome
        self.module = module

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcome.passed += 1

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcome.fail(test.id(), self._exc_info_to_string(err, test), self.module)

    def addError(self, test, err):
        super().addError(test, err)
        self.outcome.fail(test.id(), self._exc_info_to_string(err, test), self.module)

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcome.skipped += 1

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.outcome.fail(test.id(), "unexpected success", self.module)

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcome.passed += 1

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            # A failing subtest fails its test once (the test then does not report success).
            self.outcome.fail(subtest.id(), self._exc_info_to_string(err, test), self.module)


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


class SubtestAwareResult(Result):
    """Counts a test with failing subtests as one failure (not one per subtest plus a pass)."""

    def startTest(self, test):
        super().startTest(test)
        self._sub_failed = False

    def addSubTest(self, test, subtest, err):
        if err is not None:
            if not self._sub_failed:
                self._sub_failed = True
                self.outcome.fail(test.id(), "", self.module)
            # append the subtest's traceback to the test's entry
            name, text = self.outcome.failed[-1]
            self.outcome.failed[-1] = (name, text + f"--- subtest {subtest._subDescription()}\n"
                                       + self._exc_info_to_string(err, test))
            unittest.TestResult.addSubTest(self, test, subtest, err)
            self.stream.write(f"    subtest {subtest._subDescription()} FAILED\n")
            self.stream.flush()

    def addSuccess(self, test):
        if getattr(self, "_sub_failed", False):
            # unittest calls addSuccess after failing subtests; the test already counts as failed
            unittest.TestResult.addSuccess(self, test)
            self.stream.write("FAIL (subtests)\n")
            self.stream.flush()
            return
        super().addSuccess(test)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="path of the taskflow binary")
    ap.add_argument("--pg-admin", required=True,
                    help='conninfo of a PostgreSQL admin connection, e.g. "host=127.0.0.1 port=5432 user=taskflow dbname=postgres"')
    ap.add_argument("--pg-bindir", default=None, help="PostgreSQL client binaries (default /usr/lib/postgresql/15/bin)")
    ap.add_argument("-k", dest="patterns", action="append", default=[],
                    help="only tests whose id contains this substring (repeatable)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir and databases")
    args = ap.parse_args()

    outcome = Outcome()
    H.CTX.bin = os.path.abspath(args.bin)
    H.CTX.pg_admin = H.parse_conninfo(args.pg_admin)
    if args.pg_bindir:
        H.CTX.pg_bindir = args.pg_bindir
    elif not os.path.isdir(H.CTX.pg_bindir):
        import glob
        dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
        if dirs:
            H.CTX.pg_bindir = dirs[-1]
    H.CTX.tmpdir = tempfile.mkdtemp(prefix="taskflow-itest-")
    started = time.monotonic()
    print(f"taskflow integration tests: bin={H.CTX.bin} logs={H.CTX.tmpdir}", flush=True)

    if not (os.path.isfile(H.CTX.bin) and os.access(H.CTX.bin, os.X_OK)):
        outcome.fail("setup", f"the binary {H.CTX.bin} does not exist or is not executable")
        return finish(outcome, args, started)

    module_names = sorted(f[:-3] for f in os.listdir(HERE)
                          if f.startswith("test_") and f.endswith(".py"))
    for mod_name in module_names:
        try:
            mod = importlib.import_module(mod_name)
        except Exception:
            outcome.fail(f"{mod_name} (import)", traceback.format_exc(), mod_name)
            continue
        suite = unittest.defaultTestLoader.loadTestsFromModule(mod)
        tests = list(iter_tests(suite))
        if args.patterns:
            tests = [t for t in tests if any(p in t.id() for p in args.patterns)]
        if not tests:
            continue
        run_module(mod, mod_name, unittest.TestSuite(tests), len(tests), outcome)

    return finish(outcome, args, started)


def run_module(mod, mod_name, suite, count, outcome):
    print(f"\n== {mod_name} ({count} tests)", flush=True)
    try:
        try:
            if hasattr(mod, "module_setup"):
                mod.module_setup()
        except Exception:
            text = traceback.format_exc()
            for t in iter_tests(suite):
                outcome.fail(t.id(), "module_setup failed:\n" + text, mod_name)
            print(f"   module_setup failed: {text.strip().splitlines()[-1]}", flush=True)
            return
        run_module_tests(mod, mod_name, suite, outcome)
    finally:
        if hasattr(mod, "module_teardown"):
            try:
                mod.module_teardown()
            except Exception:
                outcome.fail(f"{mod_name}.[module_teardown]", traceback.format_exc(), mod_name)


def run_module_tests(mod, mod_name, suite, outcome):
    mode = getattr(mod, "SERVER", "shared")
    server = None
    H.CTX.server = None
    if mode == "shared":
        try:
            db_name, db = H.create_db(prefix="tfit_" + mod_name[5:][:20])
            H.CTX.db_name = db_name
            extra = mod.server_env() if hasattr(mod, "server_env") else {}
            env = H.base_env(db, **extra)
            r = H.migrate(db, env)
            if r.returncode != 0:
                raise RuntimeError(f"taskflow migrate exited {r.returncode}: {r.stderr.strip()}")
            server = H.Server(env, name=mod_name).start()
        except Exception:
            text = traceback.format_exc()
            for t in iter_tests(suite):
                outcome.fail(t.id(), "server setup failed:\n" + text, mod_name)
            print(f"   setup failed: {text.strip().splitlines()[-1]}", flush=True)
            if server is not None:
                server.kill()
            return
        H.CTX.server = server

    result = SubtestAwareResult(outcome, mod_name, unittest.runner._WritelnDecorator(sys.stdout))
    suite.run(result)
    # tearDownModule / tearDownClass errors are reported by unittest as errors with a
    # _ErrorHolder "test": those went through addError already.

    if server is not None:
        name = f"{mod_name}.[server exits 0 on SIGTERM]"
        try:
            H.stop_checked(server)
            outcome.passed += 1
            print(f"{name} ... ok", flush=True)
        except AssertionError as e:
            outcome.fail(name, f"{e}\n", mod_name)
            print(f"{name} ... FAIL", flush=True)
        H.CTX.server = None


def finish(outcome, args, started):
    # stop anything still running (a module's own servers it failed to stop)
    for s in H.CTX.servers:
        if s.alive():
            s.kill()
    if outcome.failed:
        print("\n" + "=" * 70 + "\nFAILURES\n" + "=" * 70)
        for name, text in outcome.failed:
            print(f"\n--- {name}\n{text.rstrip()}")
        shown = set()
        for s in H.CTX.servers:
            mod = s.name.split(":")[0]
            if (mod in outcome.failed_modules or s.name in outcome.failed_modules) and s.log_path not in shown:
                shown.add(s.log_path)
                print(f"\n--- server log tail: {s.name} ({s.log_path})\n{s.log_tail(60)}")
    if not args.keep:
        for db in list(H.CTX.databases):
            try:
                H.drop_db(db)
            except Exception as e:
                print(f"(could not drop {db}: {e})")
        if not outcome.failed:
            shutil.rmtree(H.CTX.tmpdir, ignore_errors=True)
    print(f"\n(took {time.monotonic() - started:.1f}s; skipped {outcome.skipped}; logs in {H.CTX.tmpdir})")
    print(f"{outcome.passed} passed, {len(outcome.failed)} failed", flush=True)
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for _s in H.CTX.servers:
            if _s.alive():
                _s.kill()
