"""Where one default fit's time goes: a markdown table (issue 19).

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.fit_profile [--target cow] [--preset Draft]
        [--iterations N] [--plain] [--top N]

Under cProfile, in this fresh process: the first-use imports (torch, scipy, torchdiffeq,
`core.pipeline`), then the fit exactly as the Fit button runs it, `blender.fitting.
fit_objects` at the operator's defaults (the target's normals, open-sheet rays and parts,
Blender's BVH check, the object written), on the target loaded as the bench loads it
(Suzanne, or an OBJ of ../shared/models or a path through Blender's importer) before the
clock starts, with this checkout registered as the add-on. Two tables: the fit's
sequential phases, which add up to the whole, and the busiest operations by their own
time in every phase (the backward pass, `grid_sample` and `Linear` forward, KD-tree
queries, Blender's BVH, the optimiser step). cProfile adds its own cost to every Python
call (`--plain`: no profiler, seconds only). The tables count this process's CPU seconds
(`--wall`: wall seconds), which other busy processes on the machine disturb far less.
"""
import argparse
import cProfile
import os
import pathlib
import pstats
import tempfile
import time

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


def _imports():
    import scipy.spatial  # noqa: F401
    import torch  # noqa: F401
    import torchdiffeq  # noqa: F401

    from neural_morph.core import pipeline  # noqa: F401


# the phases of one fit, in order: (row, file suffix, function) whose cumulative time it is
PHASES = (
    ("sampling, normals and parts (prepare_fit)", os.path.join("blender", "fitting.py"), "prepare_fit"),
    ("training (core.training.fit)", os.path.join("core", "training.py"), "fit"),
    ("output step: flow, untangle, snap, crease, Blender's BVH checks (output_mesh)",
     os.path.join("core", "pipeline.py"), "output_mesh"),
    ("writing the object (write_fit_result)", os.path.join("blender", "fitting.py"), "write_fit_result"),
)
# the busiest operations, own time wherever they run: (row, test on a pstats key's file, name)
LEAVES = (
    ("backward (autograd engine)", lambda f, n: "run_backward" in n),
    ("grid_sample (forward)", lambda f, n: "grid_sampler" in n),
    ("Linear (forward)", lambda f, n: "_nn.linear" in n),
    ("KD-tree nearest (core.metrics.nearest)",
     lambda f, n: f.endswith(os.path.join("core", "metrics.py")) and n == "nearest"),
    ("Blender's BVH (overlap checks, backed rays, trees)",
     lambda f, n: "BVHTree" in n or "FromPolygons" in n or "ray_cast" in n),
    ("optimiser step (Adam, schedule)",
     lambda f, n: f.endswith(("adam.py", "optimizer.py", "optim.py", "lr_scheduler.py"))),
)


def phases(stats, fit_seconds, import_seconds):
    """{row: seconds} of the sequential phases of the profiled fit (they add up to the
    whole) from pstats `stats`."""
    raw = stats.stats

    def cumulative(suffix, name):
        return sum(v[3] for (f, _l, n), v in raw.items() if f.endswith(suffix) and n == name)
    rows = {"first-use imports (torch, scipy, torchdiffeq, core)": import_seconds}
    rows.update({row: cumulative(suffix, name) for row, suffix, name in PHASES})
    rows["other (result figures, JSON, the operator's own work)"] = max(
        fit_seconds + import_seconds - sum(rows.values()), 0.0)
    return rows


def leaves(stats):
    """{row: own seconds} of the busiest operations, in every phase."""
    rows = {name: 0.0 for name, _ in LEAVES}
    for (file, _line, name), (_cc, _nc, own, _cum, _callers) in stats.stats.items():
        for row, test in LEAVES:
            if test(file, name):
                rows[row] += own
                break
    return rows


def _table(rows, total, unit):
    lines = [f"| Where | {unit} seconds | Share |", "|---|---|---|"]
    lines += [f"| {name} | {seconds:.2f} | {100 * seconds / total:.0f}% |" for name, seconds in rows]
    return "\n".join(lines)


def _target_object(target):
    """The target as a Blender object in a fresh file, as the bench loads it: Suzanne, a
    generated held-out shape (bench/heldout.py), a model of ../shared/models through
    Blender's OBJ importer, or an .obj path. Blender's user resources in a throwaway folder."""
    os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="neural_morph_profile_"))
    from bench import targets  # bpy, no torch
    heldout = targets.heldout
    path = pathlib.Path(target)
    if target.lower() == "suzanne":
        return targets.load_target("suzanne", None)
    if target in heldout.NAMES:
        return targets.load_target(target, targets.GENERATED + target)
    return targets.load_target(path.stem, path if path.suffix == ".obj" else MODELS / f"{target}.obj")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--target", default="cow", help="suzanne, a held-out shape of "
                   "bench/heldout.py, a model in ../shared/models, or an .obj")
    p.add_argument("--iterations", type=int, default=None, help="override the default 400")
    p.add_argument("--preset", default=None, help="a bundled preset's settings (Draft, Detailed)")
    p.add_argument("--plain", action="store_true", help="no profiler: seconds only")
    p.add_argument("--wall", action="store_true",
                   help="table in wall seconds (default: this process's CPU seconds, which "
                        "other processes on the machine disturb far less)")
    p.add_argument("--top", type=int, default=0, help="also print the top N functions by own time")
    args = p.parse_args()

    target = _target_object(args.target)  # bpy and the importer before the clock starts
    import bpy
    from tools.build.extension import import_checkout
    addon = import_checkout()
    addon.register()
    try:
        report(args, target, bpy)
    finally:
        addon.unregister()  # a bpy process that exits with classes registered hangs


def report(args, target, bpy):
    overrides = {}
    if args.preset:
        from neural_morph.core.presets import preset
        overrides.update(preset(args.preset))
    if args.iterations is not None:
        overrides["iterations"] = args.iterations
    clock = time.perf_counter if args.wall else time.process_time
    profiler = None if args.plain else cProfile.Profile(clock)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    _imports()
    import_seconds = clock() - (wall0 if args.wall else cpu0)
    from neural_morph.blender import fitting
    props = fitting.fit_props(target=target.name, **overrides)
    t1 = clock()
    morph, figures = fitting.fit_objects(bpy.context, props)
    fit_seconds = clock() - t1
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    import torch
    print(f"target {args.target}, {figures['iterations']} iterations, level {figures['resolution']}, "
          f"{torch.get_num_threads()} torch thread(s), torch {torch.__version__}")
    print(f"all in {wall:.1f} s wall, {cpu:.1f} s CPU (imports {import_seconds:.1f} s, "
          f"fit_objects {fit_seconds:.1f} s {'wall' if args.wall else 'CPU'})"
          f"{' under cProfile' if profiler else ''}")
    if profiler is None:
        return
    stats = pstats.Stats(profiler)
    total = fit_seconds + import_seconds
    unit = "Wall" if args.wall else "CPU"
    print()
    print(_table(list(phases(stats, fit_seconds, import_seconds).items()) + [("**all in**", total)],
                 total, unit))
    print()
    print(_table(sorted(leaves(stats).items(), key=lambda kv: -kv[1]), total, unit))
    if args.top:
        print()
        stats.sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
