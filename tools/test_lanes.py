"""`make test`'s suites in two lanes side by side, one pytest process per group of files.

    python -m tools.test_lanes PYTHON [PYTEST_ARGS ...]

The core tests run in a plain Python process of their own, as `make test-core` runs
them (no bpy imported), and the Blender test files are dealt between the two
lanes by their measured seconds (SECONDS), longest first, each to the lane that ends
soonest; a file not listed counts NEW_FILE_SECONDS. Each lane runs its pytest processes
one after the other, with its output captured and printed whole when it ends, and the
exit status is 1 if any process failed or ran no tests (pytest's exit status 5). Every
Blender process has its own user resources folder (tests/blender/conftest.py) and its
own pytest temporary folder, so the lanes share nothing but the checkout.
"""
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
LANES = 2
# seconds per file (setup, call and teardown of every test in it): the Blender files from
# `python -m pytest -q --durations=0 tests/blender` at 9b3f0ff beside a CI run (481 s, against
# 428 s quiet; only their proportions matter here), the core suite as quiet `make test`
# runs took it (66-80 s)
SECONDS = {
    "tests/core": 75,
    "tests/blender/test_blender.py": 86,
    "tests/blender/test_api.py": 68,
    "tests/blender/test_morph.py": 66,
    "tests/blender/test_reliability.py": 41,
    "tests/blender/test_onto.py": 40,
    "tests/blender/test_parts.py": 39,
    "tests/blender/test_cli.py": 38,
    "tests/blender/test_sources.py": 30,
    "tests/blender/test_extension.py": 18,
    "tests/blender/test_job.py": 18,
    "tests/blender/test_readme.py": 17,
    "tests/blender/test_figures.py": 4,
    "tests/blender/test_ui.py": 4,
}
NEW_FILE_SECONDS = 10.0  # a file not listed (the few-second files too)


def lanes():
    """The plan: one list per lane of (name, [paths relative to ROOT]) pytest runs. The
    first lane starts with the core suite; the Blender files are dealt longest first to
    the lane with the fewest seconds so far."""
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "blender").glob("test_*.py"))
    load = [SECONDS.get("tests/core", NEW_FILE_SECONDS)] + [0.0] * (LANES - 1)
    blender = [[] for _ in range(LANES)]
    for path in sorted(files, key=lambda f: (-SECONDS.get(f, NEW_FILE_SECONDS), f)):
        k = min(range(LANES), key=lambda i: load[i])
        blender[k].append(path)
        load[k] += SECONDS.get(path, NEW_FILE_SECONDS)
    plans = [[("core", ["tests/core"])]] + [[] for _ in range(LANES - 1)]
    for k in range(LANES):
        if blender[k]:
            plans[k].append((f"blender {k + 1}", sorted(blender[k])))
    return plans


_print_lock = threading.Lock()


def run_lane(python, plan, pytest_args, results):
    """Run the lane's groups one after the other, printing each one's whole output when it
    ends; append (name, exit status, seconds) to `results`."""
    for name, paths in plan:
        with tempfile.TemporaryDirectory(prefix="neural_morph_lane_") as base:
            start = time.perf_counter()
            proc = subprocess.run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                   f"--basetemp={base}/tmp", *pytest_args, *paths],
                                  cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True)
            seconds = time.perf_counter() - start
        with _print_lock:
            print(f"== {name} ({seconds:.0f} s): {' '.join(paths)}\n{proc.stdout}", end="", flush=True)
            results.append((name, proc.returncode, seconds))


def main(argv):
    if not argv:
        sys.exit(__doc__)
    python, pytest_args = argv[0], argv[1:]
    plans, results = lanes(), []
    print(f"{sum(len(p) for p in plans)} pytest runs in {len(plans)} lanes; each prints when it ends",
          flush=True)
    threads = [threading.Thread(target=run_lane, args=(python, plan, pytest_args, results))
               for plan in plans]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for name, rc, seconds in results:  # pytest's exit status 5: no tests ran
        print(f"{name}: {'passed' if rc == 0 else f'FAILED (pytest exit status {rc})'} in {seconds:.0f} s")
    print(f"all lanes: {time.perf_counter() - start:.0f} s")
    failed = [name for name, rc, _ in results if rc != 0]
    sys.exit(1 if failed or len(results) != sum(len(p) for p in plans) else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
