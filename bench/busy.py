"""A default fit on a quiet machine and beside one other CPU-bound fit (issue: a busy machine).

    python -m bench.busy [--policy PASSIVE|ACTIVE|default] [--model PATH.obj]

Plain Python, no bpy: `core.run_fit` at the defaults on the cow (../shared/models/cow.obj)
in a fresh process each time, first alone, then twice at the same time. Prints a table of
seconds (fit only, and all in: the process's imports included) and the busy/quiet ratio.
`--policy` sets OMP_WAIT_POLICY for the children (default: what `import core` sets).
"""
import argparse
import os
import pathlib
import subprocess
import sys
import time
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent


def child(model):
    """One fit in this process; prints 'seconds <fit> <all in>'."""
    start = time.perf_counter()
    package = types.ModuleType("neural_morph")
    package.__path__ = [str(ROOT)]
    sys.modules["neural_morph"] = package
    from neural_morph import core
    from bench.objfile import read_obj
    points = core.sample_surface(*read_obj(model), 100_000, 0)
    t = time.perf_counter()
    core.run_fit(points, core.user_settings())
    print(f"seconds {time.perf_counter() - t:.1f} {time.perf_counter() - start:.1f}", flush=True)


def run(count, model, env):
    procs = [subprocess.Popen([sys.executable, "-m", "bench.busy", "--child", str(model)], env=env,
                              cwd=str(ROOT), stdout=subprocess.PIPE, text=True) for _ in range(count)]
    out = [p.communicate()[0].split() for p in procs]
    return [(float(o[1]), float(o[2])) for o in out]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    p.add_argument("--policy", default="default")
    p.add_argument("--model", default=str(ROOT.parent / "shared" / "models" / "cow.obj"))
    args = p.parse_args()
    if args.child:
        return child(args.child)
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "OMP_NUM_THREADS")}
    if args.policy != "default":
        env["OMP_WAIT_POLICY"] = args.policy
    quiet = run(1, args.model, env)[0]
    busy = run(2, args.model, env)
    worst = max(b[0] for b in busy)
    print("| OMP_WAIT_POLICY | quiet fit s (all in) | beside one other fit, s (all in) | ratio |")
    print(f"| {args.policy} | {quiet[0]:.1f} ({quiet[1]:.1f}) | "
          f"{' / '.join(f'{b[0]:.1f} ({b[1]:.1f})' for b in busy)} | {worst / quiet[0]:.2f} |")


if __name__ == "__main__":
    main()
