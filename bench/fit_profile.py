"""Where one default fit's time goes: a markdown table (issue 19).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.fit_profile [--target cow] [--preset Draft]
        [--iterations N] [--plain] [--top N]

Plain Python under cProfile, in this fresh process: the first-use imports (torch, scipy,
torchdiffeq, `core.pipeline`), then `core.run_fit` at the operator's defaults on the target
(Suzanne through the `bpy` module, loaded before the clock starts; any other name is an
OBJ in ../shared/models, or a path), the numpy self-intersection check standing in for
Blender's BVH. Rows: the torch backward pass, `grid_sample` and `Linear` (forward), the
rest of the solver's forward work, KD-tree builds and queries, the untangle and
self-intersection checks, the optimiser step, the imports, and the rest. cProfile adds its
own cost to every Python call (`--plain`: no profiler, seconds only). The table counts
this process's CPU seconds (`--wall`: wall seconds), which other busy processes on the
machine disturb far less.
"""
import argparse
import cProfile
import os
import pathlib
import pstats
import sys
import time
import types

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = ROOT.parent / "shared" / "models"


def load_mesh(target):
    """(verts (V, 3) float64, faces (F, 3) int64 triangles) of the target: Suzanne through
    the `bpy` module, any other name an OBJ in ../shared/models, or an .obj path."""
    import numpy as np
    if target.lower() == "suzanne":
        import bpy
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.mesh.primitive_monkey_add()
        mesh = bpy.context.active_object.data
        mesh.calc_loop_triangles()
        return (np.array([v.co[:] for v in mesh.vertices], dtype=np.float64),
                np.array([t.vertices[:] for t in mesh.loop_triangles], dtype=np.int64))
    path = pathlib.Path(target)
    path = path if path.suffix == ".obj" else MODELS / f"{target}.obj"
    from bench.objfile import read_obj
    return read_obj(path)


def load_points(target, count=100_000):
    """(count, 3) area-weighted samples of the target's surface (the operator's count)."""
    from neural_morph.core.sampling import sample_surface  # torch-free
    verts, faces = load_mesh(target)
    return sample_surface(verts, faces, count, 0)


def _imports():
    import scipy.spatial  # noqa: F401
    import torch  # noqa: F401
    import torchdiffeq  # noqa: F401

    from neural_morph.core import pipeline  # noqa: F401


# (row, test on a pstats key (file, line, name), "own" time or "cumulative")
LEAVES = (
    ("backward (autograd engine)", lambda f, n: "run_backward" in n, "own"),
    ("grid_sample (forward)", lambda f, n: "grid_sampler" in n, "own"),
    ("Linear (forward)", lambda f, n: "_nn.linear" in n, "own"),
    ("KD-tree nearest (queries)", lambda f, n: f.endswith(os.path.join("core", "metrics.py"))
     and n == "nearest", "own"),
    ("optimiser step (Adam, schedule)", lambda f, n: f.endswith(("adam.py", "optimizer.py", "optim.py",
                                                                  "lr_scheduler.py")), "own"),
)


def categorise(stats, fit_seconds, import_seconds):
    """{row: seconds} of the profiled fit from pstats `stats`."""
    raw = stats.stats
    rows = {name: 0.0 for name, _, _ in LEAVES}
    for (file, _line, name), (_cc, _nc, own, _cum, _callers) in raw.items():
        for row, test, _kind in LEAVES:
            if test(file, name):
                rows[row] += own
                break

    def cumulative(suffix, name):
        return sum(v[3] for (f, _l, n), v in raw.items() if f.endswith(suffix) and n == name)
    integrate = cumulative(os.path.join("core", "solvers.py"), "integrate")
    inside = rows["grid_sample (forward)"] + rows["Linear (forward)"]
    rows["rest of the forward solver (torchdiffeq, SiLU, cat ...)"] = max(integrate - inside, 0.0)
    rows["untangle and self-intersection check"] = cumulative(
        os.path.join("core", "pipeline.py"), "path_mesh")
    rows["optimiser construction (Adam.__init__, its first-use imports)"] = sum(
        v[3] for (f, _l, n), v in raw.items() if f.endswith("adam.py") and n == "__init__")
    rows["first-use imports (torch, scipy, torchdiffeq, core)"] = import_seconds
    rows["other"] = max(fit_seconds + import_seconds - sum(rows.values()), 0.0)
    return rows


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="cow", help="suzanne, a model in ../shared/models, or an .obj")
    p.add_argument("--iterations", type=int, default=None, help="override the default 400")
    p.add_argument("--preset", default=None, help="a bundled preset's settings (Draft, Detailed)")
    p.add_argument("--plain", action="store_true", help="no profiler: seconds only")
    p.add_argument("--wall", action="store_true",
                   help="table in wall seconds (default: this process's CPU seconds, which "
                        "other processes on the machine disturb far less)")
    p.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    args = p.parse_args()

    package = types.ModuleType("neural_morph")
    package.__path__ = [str(ROOT)]
    sys.modules["neural_morph"] = package
    points = load_points(args.target)  # bpy (Suzanne) and numpy before the clock starts

    clock = time.perf_counter if args.wall else time.process_time
    profiler = None if args.plain else cProfile.Profile(clock)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    _imports()
    import_seconds = clock() - (wall0 if args.wall else cpu0)
    from neural_morph import core
    overrides = {}
    if args.preset:
        from neural_morph.core.presets import preset
        overrides.update(preset(args.preset))
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    settings = core.user_settings(**overrides)
    t1 = clock()
    core.run_fit(points, settings)
    fit_seconds = clock() - t1
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    import torch
    print(f"target {args.target}, {settings.iterations} iterations, level {settings.resolution}, "
          f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}")
    print(f"all in {wall:.1f} s wall, {cpu:.1f} s CPU (imports {import_seconds:.1f} s, "
          f"run_fit {fit_seconds:.1f} s {'wall' if args.wall else 'CPU'})"
          f"{' under cProfile' if profiler else ''}")
    if profiler is None:
        return
    stats = pstats.Stats(profiler)
    rows = categorise(stats, fit_seconds, import_seconds)
    total = fit_seconds + import_seconds
    print()
    print(f"| Where | {'Wall' if args.wall else 'CPU'} seconds | Share |")
    print("|---|---|---|")
    for name, seconds in sorted(rows.items(), key=lambda kv: -kv[1]):
        print(f"| {name} | {seconds:.2f} | {100 * seconds / total:.0f}% |")
    print(f"| **all in** | {total:.2f} | 100% |")
    if args.top:
        print()
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
