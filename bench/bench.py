"""`make bench`: Neural Morph against the seed's configuration and Blender's Shrinkwrap.

    python -m bench.bench [extra.obj ...] [--study NAME[,NAME]] [--only NAME[,NAME]]
                          [--iterations N] [--preset NAME] [--quick] [--out DIR]

Studies (`--study`, all but timing by default): quality (every target against Shrinkwrap
and the seed configuration: the bar and quality tables, results.md), ttq (time to
quality, on --ttq-targets), ablation, presets, scale (ttq and scale belong to the quality
run), and timing (the operator at its defaults, --timing-runs per target). Ablation,
presets and timing without quality run on their own and write OUT/<study>.json and their
table; a quality run without them includes OUT/ablation.json and OUT/presets.json when
there.

Targets: Blender's Suzanne (and Suzanne moved, rotated and scaled), every .obj in
../shared/models (beside the checkout) when that folder exists, the .obj paths given on the
command line (imported with Blender's own OBJ importer), and the generated shapes of
bench/heldout.py (torus, two parts, open sheet, holes, thin legs, text, fingers, spikes).
The add-on is built with blender_ext.py and installed into a throwaway user repository,
then run through `bpy.ops.neural_morph.fit` exactly as a user gets it.
Writes results.md, results.json, chamfer_vs_time.png and render_<target>.png to --out.
"""
import argparse
import datetime
import importlib
import json
import math
import os
import pathlib
import platform
import resource
import shlex
import sys
import tempfile
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED_MODELS = ROOT.parent / "shared" / "models"
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="neural_morph_bench_")

import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)
import numpy as np  # noqa: E402

from bench import heldout, report, seed_baseline, shrinkwrap, surface_distance  # noqa: E402
from bench.targets import GENERATED, MOVED, load_target  # noqa: E402
from tools.build import extension  # noqa: E402
from tools.docs import render  # noqa: E402


# -- configuration ------------------------------------------------------------------------
STUDIES = ("quality", "ttq", "ablation", "presets", "scale", "timing")
DEFAULT_STUDIES = ("quality", "ttq", "ablation", "presets", "scale")


def studies(text):
    """--study's value: the names, in STUDIES' order; an unknown one is a usage error."""
    names = {n.strip().lower() for n in text.split(",") if n.strip()}
    unknown = sorted(names - set(STUDIES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown study {', '.join(unknown) or '(none)'}; "
                                         f"choose from {', '.join(STUDIES)}")
    return tuple(n for n in STUDIES if n in names)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("models", nargs="*", help="extra .obj files to benchmark")
    p.add_argument("--only", default="", help="comma-separated target names (file stems, 'suzanne')")
    p.add_argument("--iterations", type=int, default=None,
                   help="override Neural Morph's iteration count (quick trials)")
    p.add_argument("--quick", action="store_true", help="tiny settings for a smoke run")
    p.add_argument("--study", default=",".join(DEFAULT_STUDIES), type=studies,
                   help="comma-separated studies to run, of " + ", ".join(STUDIES) +
                        " (default: %(default)s)")
    p.add_argument("--ttq-targets", default="suzanne,cow",
                   help="comma-separated targets that get the time-to-quality runs (ours and "
                        "the seed configuration)")
    p.add_argument("--timing-runs", type=int, default=3, metavar="N",
                   help="runs per target of the timing study (for a quiet machine)")
    p.add_argument("--preset", default="",
                   help="Neural Morph at this bundled preset (e.g. Draft), as the panel's preset "
                        "menu applies it, instead of the operator's defaults")
    p.add_argument("--ablation-targets", default="suzanne,cow",
                   help="comma-separated targets of the ablation")
    p.add_argument("--variants", default="",
                   help="comma-separated ablation variants to run (words of their labels, e.g. "
                        "'default,similarity'); empty runs all")
    p.add_argument("--seed", type=int, default=None,
                   help="Neural Morph at this seed instead of the operator's default (one fit "
                        "is one draw: run several to see how much a figure moves)")
    p.add_argument("--out", default=str(ROOT / "out" / "bench"))
    args = p.parse_args(argv)
    if "quality" not in args.study and {"ttq", "scale"} & set(args.study):
        p.error("the ttq and scale studies are part of the quality run: add quality to --study")
    q = args.quick
    args.settings = {
        "metric_samples": 20_000 if q else 100_000,
        "ttq_every": 1.0 if q else 3.0,        # seconds of fit time between quality checks
        "ttq_samples": 10_000 if q else 30_000,  # samples per surface in those checks
        "seed_budget_factor": 1.5,             # the seed trains up to this × our fit time
        "seed_budget_min": 10.0 if q else 30.0,
        "ablation_targets": tuple(n.strip().lower() for n in args.ablation_targets.split(",")
                                  if n.strip()),
        "ablation_iterations": 20 if q else None,  # None: the default's, for every variant
        "preset_targets": ("suzanne",) if q else ("suzanne", "cow"),
        "ttq_targets": (tuple(n.strip().lower() for n in args.ttq_targets.split(",") if n.strip())
                        if "ttq" in args.study else ()),
        "seed_budget_max": 60.0 if q else 300.0,
        "matmul_n": 1024 if q else 2048,
        "matmul_reps": 3 if q else 5,
        "scale_levels": (5, 8) if q else (5, 6, 7, 8),
        "scale_fit_levels": (5, 8),
        "scale_fit_iterations": 5 if q else 12,
        "scale_sample_reps": 3,
        "render_size": (960, 420) if q else (1600, 700),
    }
    # Operator property overrides; none at full scale: the operator's defaults are the point.
    args.overrides = {}
    if args.preset:
        from core import presets  # torch-free
        try:
            args.overrides.update(presets.preset(args.preset))
        except ValueError as exc:
            p.error(str(exc))
    if q:
        args.overrides.update(iterations=20, resolution=3)
    if args.iterations is not None:
        args.overrides["iterations"] = args.iterations
    if args.seed is not None:
        args.overrides["seed"] = args.seed
    return args


def targets(args):
    """[(name, path or None)]: Suzanne, the shared models, then the command-line files."""
    found = [("suzanne", None), ("suzanne_moved", MOVED)]
    paths = sorted(SHARED_MODELS.glob("*.obj")) if SHARED_MODELS.is_dir() else []
    paths += [pathlib.Path(m) for m in args.models]
    seen = set()
    for path in paths:
        key = path.resolve()
        if key in seen:
            continue
        seen.add(key)
        name, n = path.stem, 2
        while any(name.lower() == f[0].lower() for f in found):
            name, n = f"{path.stem}_{n}", n + 1
        found.append((name, path))
    found += [(name, GENERATED + name) for name in heldout.NAMES]
    if args.only:
        wanted = {w.strip().lower() for w in args.only.split(",") if w.strip()}
        unknown = wanted - {n.lower() for n, _ in found}
        if unknown:
            print(f"bench: no target named {', '.join(sorted(unknown))}; "
                  f"known: {', '.join(n for n, _ in found)}", flush=True)
        found = [(n, p) for n, p in found if n.lower() in wanted]
    return found


THRESHOLDS = (0.001, 0.005, 0.01, 0.02)  # F-score thresholds, fractions of the bounding-box diagonal


# -- measurement helpers -----------------------------------------------------------------
def _status_kb(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


class PeakRSS:
    """Resident-set high-water mark while a block runs.

    Resets the kernel's per-process mark (VmHWM) through /proc/self/clear_refs where that is
    allowed; otherwise falls back to getrusage's ru_maxrss, which never goes down (so the
    figure is then the process's peak so far).
    """
    method = None

    def __enter__(self):
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            PeakRSS.method = "VmHWM after resetting it through /proc/self/clear_refs"
            self.reset = True
        except OSError:
            PeakRSS.method = "getrusage ru_maxrss (cannot be reset: process peak so far)"
            self.reset = False
        self.start_kb = _status_kb("VmRSS") or 0
        return self

    def __exit__(self, *exc):
        peak = _status_kb("VmHWM") if self.reset else None
        if peak is None:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.peak_mb = peak / 1024
        self.increase_mb = max(0, peak - self.start_kb) / 1024
        return False


def matmul_peak(torch, n, reps):
    """Best GFLOP/s of an n×n float32 torch.matmul at the current thread count."""
    a = torch.randn(n, n)
    b = torch.randn(n, n)
    torch.matmul(a, b)  # warm-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.matmul(a, b)
        best = min(best, time.perf_counter() - t)
    return 2.0 * n ** 3 / best / 1e9


def timed_fit(core, points, settings):
    """core.fit with a progress callback: (model, seconds since call at each iteration, losses)."""
    stamps, losses = [], []
    start = time.perf_counter()

    def progress(iteration, loss):
        stamps.append(time.perf_counter() - start)
        losses.append(loss)
    model = core.fit(points, settings, progress=progress)
    return model, stamps, losses


def per_iteration(stamps, first=1):
    """Median duration of iterations `first`, first + 1, ... (0-based) from progress stamps.

    Iteration i (i >= 1) lasts stamps[i] - stamps[i-1]; iteration 0 also holds the fit's
    set-up, and the first iterations of a fresh fit warm up torch's allocator, so callers
    start later.
    """
    d = np.diff(np.asarray(stamps, dtype=np.float64))[max(first, 1) - 1:]
    return float(np.median(d)) if len(d) else float("nan")


def speed_figures(core, settings, seconds_per_iteration, peak_gflops):
    field = core.field.VelocityField(settings.width, settings.depth, settings.grid_sizes,
                                     settings.grid_channels)
    evals = 4 * settings.train_steps if settings.method == "rk4" else None
    flops = field.flops_per_eval() * evals * settings.points * 3
    achieved = flops / seconds_per_iteration / 1e9
    return {"points": settings.points, "width": settings.width, "depth": settings.depth,
            "steps": settings.train_steps, "flops_per_eval_per_point": field.flops_per_eval(),
            "evals_per_iteration": evals, "flops_per_iteration": flops,
            "seconds_per_iteration": seconds_per_iteration, "achieved_gflops": achieved,
            "fraction_of_peak": achieved / peak_gflops}


# -- one target ------------------------------------------------------------------------------
def operator_props(overrides):
    """The operator's default property values with `overrides`, as an attribute object."""
    rna = bpy.ops.neural_morph.fit.get_rna_type()
    values = {p.identifier: getattr(p, "default", None) for p in rna.properties
              if p.identifier != "rna_type"}
    values.update(overrides)
    return argparse.Namespace(**values)


def operator_fit(blender, target, **props):
    """bpy.ops.neural_morph.fit on `target` with `props`, as a user calls it.

    Returns (morph object, wall seconds of the call, its neural_morph_* figures,
    world-space vertices (V, 3) float64, triangles (F, 3))."""
    t0 = time.perf_counter()
    status = bpy.ops.neural_morph.fit(target=target.name, **props)
    wall = time.perf_counter() - t0
    morph = bpy.context.active_object
    if status != {'FINISHED'} or morph is None or morph == target:
        raise RuntimeError(f"neural_morph.fit({props}) returned {status}")
    mw = np.array(morph.matrix_world, dtype=np.float64)
    world = blender.meshes.mesh_vertices(morph.data) @ mw[:3, :3].T + mw[:3, 3]
    return morph, wall, blender.store.figures_of(morph), world, blender.meshes.mesh_triangles(morph.data)


def metrics_row(core, method, verts, faces, target_tri, samples, seconds, mem, blender, **extra):
    m = core.metrics.surface_metrics(verts, faces, target_tri[0], target_tri[1], samples=samples,
                                     thresholds=THRESHOLDS)
    row = {"method": method, "vertices": len(verts), "faces": len(faces), "seconds": seconds,
           "peak_rss_mb": mem.peak_mb, "rss_increase_mb": mem.increase_mb, **m,
           # the numpy count materialises candidate pairs: on Shrinkwrap's collapsed meshes
           # it exhausted 24 GB (text at levels 6 and 7; suzanne_holes at level 5 beside a
           # second bench, 2026-12-01), so only Blender counts those, and ours above 30k faces
           "self_intersections": (core.count_self_intersections(verts, faces)
                                  if len(faces) <= 30_000 and not method.startswith("Shrinkwrap")
                                  else None),
           "self_intersections_bvh": blender.meshes.count_self_intersections_bvh(verts, faces),
           **surface_distance.exact_fscores(core, verts, faces, target_tri[0], target_tri[1],
                                            samples=samples)}
    row.update(extra)
    return row


def bench_target(res, name, path, args, nm, peak_gflops, out_dir):
    """Fill `res` for one target; what was measured before a failure stays in it."""
    core, blender = nm.core, nm.blender
    ctx = bpy.context
    samples = args.settings["metric_samples"]
    target = load_target(name, path)
    target_tri = blender.targets.evaluated_triangles(ctx, target)
    res["target_vertices"], res["target_triangles"] = len(target_tri[0]), len(target_tri[1])
    # the target against itself (two independent sample sets): what a perfect fit scores
    # on the sampled metrics, whose F@0.1% is far below 1 (bench/surface_distance.py)
    res["sampled_ceiling"] = core.metrics.surface_metrics(
        target_tri[0], target_tri[1], target_tri[0], target_tri[1], samples=samples,
        thresholds=THRESHOLDS)
    print(f"\n=== {name}: {len(target_tri[1]):,} triangles ===", flush=True)

    # 1. Neural Morph through the operator, as a user runs it.
    props = operator_props(args.overrides)
    with PeakRSS() as mem:
        morph, wall, fig, world, faces = operator_fit(blender, target, **args.overrides)
    row = metrics_row(core, "Neural Morph", world, faces, target_tri, samples,
                      float(fig["seconds"]), mem, blender, wall_seconds=wall,
                      resolution=int(fig["resolution"]), iterations=int(fig["iterations"]),
                      operator_self_intersections=int(fig["self_intersections"]),
                      parts=int(fig.get("parts", 1)), pulled_back=int(fig.get("pulled_back", 0)),
                      pulled_distance=float(fig.get("pulled_distance", 0.0)),
                      snap_held=int(fig.get("snap_held", 0)), relaxed=int(fig.get("relaxed", 0)),
                      creased=int(fig.get("creased", 0)), seamed=int(fig.get("seamed", 0)),
                      training_chamfer=float(fig["chamfer"]))
    res["rows"].append(row)
    # Shrinkwrap wraps an icosphere with at least our vertex count (several parts share
    # the level's vertices unevenly, so our count may fall between two levels)
    level = next((k for k in range(8) if core.icosphere_counts(k)[0] >= len(world)), 7)
    res["kind"] = heldout.KINDS.get(name, "")
    print(f"Neural Morph: {fig['seconds']:.1f} s, level {level}, F@1% {row['fscore@0.01']:.3f}",
          flush=True)

    # 2. Time to quality: the same fit through core, evaluated every few seconds of fit
    # time (the evaluation's own time is left out); its loss history gives the curve.
    settings = core.user_settings(**{k: getattr(props, k) for k in core.settings.USER_SETTINGS})
    points = core.sample_surface(target_tri[0], target_tri[1], settings.target_samples,
                                 settings.seed)
    res["our_settings"] = {k: getattr(settings, k) for k in (
        "iterations", "points", "target_samples", "grid_sizes", "grid_channels", "width",
        "depth", "method", "steps", "train_steps", "learning_rate", "warm_start", "resolution",
        "seed")}
    res["speed_default"] = None
    if name.lower() not in args.settings["ttq_targets"]:
        return bench_shrinkwrap_and_render(res, name, target, morph, target_tri, level, args,
                                           core, blender, samples, out_dir)
    ttq = time_to_quality_ours(core, points, settings, target_tri, level, args)
    res["curve"] = {"seconds": ttq["stamps"], "losses": ttq["losses"],
                    "warm_start": settings.warm_start,
                    "identical_to_operator": bool(np.array_equal(blender.store.load_flow(morph).history,
                                                                 ttq["losses"]))}
    res["speed_default"] = speed_figures(core, settings, per_iteration(
        ttq["stamps"], first=settings.warm_start + 1), peak_gflops)
    res["ttq_ours"] = ttq["checks"]

    # 3. The seed's configuration, trained in the same process with its own evaluations.
    normal = core.normalize.normalization(points, "similarity")
    unit = (points - normal[:3, 3]) / normal[0, 0]
    budget = min(max(args.settings["seed_budget_factor"] * float(fig["seconds"]),
                     args.settings["seed_budget_min"]), args.settings["seed_budget_max"])
    seed_run = time_to_quality_seed(core, seed_baseline, unit, normal, target_tri, level,
                                    budget, float(fig["seconds"]), args)
    res["ttq_seed"] = seed_run["checks"]
    res["seed_budget"] = budget
    if seed_run.get("at_our_time") is not None:
        sverts, sfaces, iterations = seed_run["at_our_time"]
        with PeakRSS() as mem:
            pass
        res["rows"].append(metrics_row(core, f"Seed config ({iterations} it. in our time)",
                                       sverts, sfaces, target_tri, samples, float(fig["seconds"]),
                                       mem, blender, iterations=iterations))
        res["seed_quality"] = {"iterations": iterations, "history": seed_run["history"]}
    return bench_shrinkwrap_and_render(res, name, target, morph, target_tri, level, args, core,
                                       blender, samples, out_dir)


def bench_shrinkwrap_and_render(res, name, target, morph, target_tri, level, args, core, blender,
                                samples, out_dir):
    """Shrinkwrap's three modes at our vertex count, then the side-by-side render."""
    ctx = bpy.context
    # 3. Shrinkwrap on an icosphere with our output's vertex count.
    sw_center, radius = shrinkwrap.enclosing_sphere(target_tri[0])
    sw_target = shrinkwrap.mesh_target(ctx, target)
    wrapped = {}
    for mode in shrinkwrap.MODES:
        try:
            with PeakRSS() as mem:
                obj, verts, sfaces, secs = shrinkwrap.wrap(ctx, sw_target, level, mode, sw_center,
                                                           radius)
            wrapped[mode] = obj
            res["rows"].append(metrics_row(core, f"Shrinkwrap {mode}", verts, sfaces, target_tri,
                                           samples, secs, mem, blender, mode=mode))
        except Exception as exc:
            traceback.print_exc()
            res.setdefault("errors", []).append(f"Shrinkwrap {mode}: {exc}")
    sw_rows = [r for r in res["rows"] if r.get("mode")]
    best = max(sw_rows, key=lambda r: r["fscore@0.01"]) if sw_rows else None
    if best:
        best["best"] = True
        res["best_shrinkwrap"] = best["mode"]

    # 4. Render target, Neural Morph, best Shrinkwrap side by side.
    objs, labels = [target, morph], [name, "Neural Morph"]
    if best:
        objs.append(shrinkwrap.bake(ctx, wrapped[best["mode"]]))
        labels.append(f"Shrinkwrap {best['mode']}")
    try:
        render.side_by_side(objs, out_dir / f"render_{name}.png", labels,
                            size=args.settings["render_size"])
        res["render"] = f"render_{name}.png"
        if res.get("kind") == "gaps and cavities":  # their openings face up: seen from above too
            render.side_by_side(objs, out_dir / f"render_{name}_above.png", labels,
                                size=args.settings["render_size"], tilt=math.radians(55))
            res["render_above"] = f"render_{name}_above.png"
    except Exception as exc:
        traceback.print_exc()
        res.setdefault("errors", []).append(f"render: {exc}")
    return res


# -- time to quality ----------------------------------------------------------------------------
def _f1(core, verts, faces, target_tri, samples):
    m = core.metrics.surface_metrics(verts, faces, target_tri[0], target_tri[1], samples=samples,
                                     thresholds=(0.01,))
    return m["fscore@0.01"]


def time_to_quality_ours(core, points, settings, target_tri, level, args):
    """core.fit at `settings`, its output (level `level`, no untangling) measured every
    `ttq_every` seconds of fit time: {"checks": [(seconds, F@1%)], "stamps", "losses"}."""
    every, samples = args.settings["ttq_every"], args.settings["ttq_samples"]
    paused = [0.0]
    start = time.perf_counter()
    stamps, losses, checks = [], [], []

    def fit_time():
        return time.perf_counter() - start - paused[0]

    def progress(iteration, loss):
        stamps.append(fit_time())
        losses.append(loss)

    def snapshot(model):
        now = fit_time()
        if checks and now - checks[-1][0] < every:
            return
        t0 = time.perf_counter()
        verts, faces = model.surface(level)
        checks.append((now, _f1(core, verts, faces, target_tri, samples)))
        paused[0] += time.perf_counter() - t0
    model = core.fit(points, settings, progress=progress, snapshot=snapshot, snapshot_every=10)
    verts, faces = model.surface(level)
    checks.append((fit_time(), _f1(core, verts, faces, target_tri, samples)))
    return {"checks": checks, "stamps": stamps, "losses": losses}


def time_to_quality_seed(core, seed_baseline, unit, normal, target_tri, level, budget,
                         our_seconds, args):
    """The seed configuration trained for `budget` seconds, measured every `ttq_every` × 2
    seconds of training time; also its surface at `our_seconds`."""
    every, samples = 2 * args.settings["ttq_every"], args.settings["ttq_samples"]
    run = seed_baseline.SeedFit(unit)
    sphere, faces = core.icosphere(level)
    checks, trained, at_ours = [], 0.0, None
    next_check = every
    while trained < budget:
        seconds, _ = run.step()
        trained += seconds
        if trained >= our_seconds and at_ours is None:
            verts = run.surface(sphere) @ normal[:3, :3].T + normal[:3, 3]
            at_ours = (verts, faces, len(run.history))
        if trained >= next_check or trained >= budget:
            verts = run.surface(sphere) @ normal[:3, :3].T + normal[:3, 3]
            checks.append((trained, _f1(core, verts, faces, target_tri, samples)))
            next_check = trained + every
    return {"checks": checks, "at_our_time": at_ours, "history": [h[:2] for h in run.history]}


def first_reach(checks, goal):
    """Seconds of the first check at or above `goal`, else None."""
    return next((t for t, f in checks if f >= goal), None)


# -- ablation ---------------------------------------------------------------------------------
ABLATIONS = {
    "default": {},
    "no feature grids (MLP on [x, t] only)": {"grid_sizes": ()},
    "no true ODE (fixed 2-step grid, output on it)": {"time_jitter": 0.0, "steps": 2},
    "no Jacobian term": {"jacobian_weight": 0.0},
    "no outside term": {"outside_weight": 0.0},
    "with the beam term (weight 1)": {"beam_weight": 1.0},
    "similarity normalisation (one scale)": {"normalization": "similarity"},
}


def ablation_study(nm, args):
    """Each ingredient switched off in turn, through core.run_fit with Blender's check and
    the target's normals (as the operator fits)."""
    core, blender = nm.core, nm.blender
    rows = []
    for name, path in targets(args):
        if name.lower() not in args.settings["ablation_targets"]:
            continue
        target = load_target(name, path)
        tri = blender.targets.evaluated_triangles(bpy.context, target)
        wanted = [w.strip().lower() for w in args.variants.split(",") if w.strip()]
        for label, change in ABLATIONS.items():
            if wanted and not any(w in label.lower() for w in wanted):
                continue
            iterations = args.settings["ablation_iterations"] or core.FitSettings().iterations
            settings = core.user_settings(**{**args.overrides, **change, "iterations": iterations})
            points, where = core.sample_surface(tri[0], tri[1], settings.target_samples,
                                                settings.seed, return_faces=True)
            # the target's outward normals at the points, and what is backed, as the operator
            normals, backed = blender.fitting.surface_normals(tri[0], tri[1], where)
            t0 = time.perf_counter()
            result = core.run_fit(points, settings, find=blender.meshes.self_intersecting_faces_bvh,
                                  normals=normals, backed=backed)
            seconds = time.perf_counter() - t0
            world = result.model.to_target(result.verts)
            result.model.settings.untangle = False  # the raw output, before untangling
            raw = core.output_mesh(result.model, settings.resolution,
                                   blender.meshes.self_intersecting_faces_bvh)[3]
            m = core.metrics.surface_metrics(world, result.faces, tri[0], tri[1],
                                             samples=args.settings["metric_samples"],
                                             thresholds=THRESHOLDS)
            rows.append({"target": name, "variant": label, "seconds": seconds,
                         "raw_self_intersections": int(raw),
                         "self_intersections": blender.meshes.count_self_intersections_bvh(
                             world, result.faces),
                         **m})
            print(f"ablation {name} / {label}: F@0.5% {m['fscore@0.005']:.3f} F@1% "
                  f"{m['fscore@0.01']:.3f} self-int {rows[-1]['self_intersections']} raw {raw} "
                  f"{seconds:.1f} s", flush=True)
    return rows


# -- presets ----------------------------------------------------------------------------------
def preset_study(nm, args):
    """Every bundled preset through the operator, as a user applies it from the panel menu,
    on `preset_targets`: wall seconds of the whole call, F-scores, and the best Shrinkwrap at
    the same level for reference."""
    for sub in ("metrics", "presets"):  # not in core's public surface
        importlib.import_module(f"{extension.MODULE}.core.{sub}")
    core, blender = nm.core, nm.blender
    ctx = bpy.context
    rows = []
    for name, path in targets(args):
        if name.lower() not in args.settings["preset_targets"]:
            continue
        for preset_name, values in core.presets.presets().items():
            values = dict(values, **args.overrides) if args.quick else dict(values)
            target = load_target(name, path)
            tri = blender.targets.evaluated_triangles(ctx, target)
            morph, wall, fig, world, faces = operator_fit(blender, target, **values)
            m = core.metrics.surface_metrics(world, faces, tri[0], tri[1],
                                             samples=args.settings["metric_samples"],
                                             thresholds=THRESHOLDS)
            level = int(fig["resolution"])
            center, radius = shrinkwrap.enclosing_sphere(tri[0])
            sw_target = shrinkwrap.mesh_target(ctx, target)
            best = None
            for mode in shrinkwrap.MODES:
                _, sverts, sfaces, _ = shrinkwrap.wrap(ctx, sw_target, level, mode, center, radius)
                sm = core.metrics.surface_metrics(sverts, sfaces, tri[0], tri[1],
                                                  samples=args.settings["metric_samples"],
                                                  thresholds=THRESHOLDS)
                if best is None or sm["fscore@0.01"] > best["fscore@0.01"]:
                    best = dict(sm, mode=mode)
            rows.append({"target": name, "preset": preset_name, "seconds": wall,
                         "operator_seconds": float(fig["seconds"]),
                         "iterations": int(fig["iterations"]), "points": int(values["points"]),
                         "level": level, "vertices": len(world),
                         "self_intersections": blender.meshes.count_self_intersections_bvh(world, faces),
                         **m, "shrinkwrap": best})
            print(f"preset {name} / {preset_name}: {wall:.1f} s, F@0.5% {m['fscore@0.005']:.3f} "
                  f"F@1% {m['fscore@0.01']:.3f} (Shrinkwrap {best['fscore@0.005']:.3f} / "
                  f"{best['fscore@0.01']:.3f}), self-int {rows[-1]['self_intersections']}",
                  flush=True)
    return rows


# -- timing -----------------------------------------------------------------------------------
def timing_study(nm, args):
    """The operator at its defaults, `--timing-runs` runs per target: wall seconds of the
    whole call (sampling, fit, output check and writing the object), the CPU seconds of
    this process during it (all its threads; a neighbour on a shared host moves them far
    less than wall seconds) and its figures."""
    blender = nm.blender
    rows = []
    for name, path in targets(args):
        runs, cpu = [], []
        for _ in range(args.timing_runs):
            target = load_target(name, path)
            t0, c0 = time.perf_counter(), time.process_time()
            status = bpy.ops.neural_morph.fit(target=target.name, **args.overrides)
            runs.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            fig = blender.store.figures_of(bpy.context.active_object)
            print(f"timing {name}: {runs[-1]:.1f} s ({cpu[-1]:.1f} CPU s) {status}", flush=True)
        rows.append({"target": name, "seconds": runs, "median": float(np.median(runs)),
                     "cpu_seconds": cpu, "cpu_median": float(np.median(cpu)),
                     "self_intersections": int(fig["self_intersections"]),
                     "iterations": int(fig["iterations"])})
    return rows


# -- scale ------------------------------------------------------------------------------------
def scale_study(core, args):
    """Sampling time vs triangle count, and fit-loop time on a small and a huge target."""
    rows = []
    for level in args.settings["scale_levels"]:
        verts, faces = core.icosphere(level)
        verts = verts * np.array([1.0, 0.7, 0.5])  # an ellipsoid: unequal triangle areas
        times = []
        for rep in range(args.settings["scale_sample_reps"]):
            t = time.perf_counter()
            pts = core.sample_surface(verts, faces, 100_000, rep)
            times.append(time.perf_counter() - t)
        row = {"level": level, "triangles": len(faces), "vertices": len(verts),
               "sample_seconds": float(np.median(times))}
        if level in args.settings["scale_fit_levels"]:
            s = core.user_settings(iterations=args.settings["scale_fit_iterations"], warm_start=0)
            _, stamps, _ = timed_fit(core, pts, s)
            row["fit_seconds_per_iteration"] = per_iteration(stamps, first=2)
            row["fit_iterations"] = s.iterations
        rows.append(row)
        print(f"scale: {len(faces):,} triangles, sampling {row['sample_seconds']:.3f} s", flush=True)
        del verts, faces
    big = max(rows, key=lambda r: r["triangles"])
    note = (f"Targets: ellipsoids made from core.icosphere(level). Sampling 100k points from "
            f"{big['triangles']:,} triangles takes {big['sample_seconds']:.2f} s "
            f"({'under' if big['sample_seconds'] < 1 else 'OVER'} 1 s). The fit only ever sees "
            "the 100,000 sampled points, so its loop time does not depend on the triangle count: "
            "compare the fit-loop column (same settings, default points and width, warm start off).")
    return {"rows": rows, "note": note}


# -- main -------------------------------------------------------------------------------------
def machine_info(torch):
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {"cpu": cpu, "nproc": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "blender": bpy.app.version_string,
            "python": platform.python_version(),
            "load_average": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}


def run(args, out_dir):
    nm = importlib.import_module(extension.MODULE)
    for sub in ("metrics", "field", "presets"):  # not in core's public surface
        importlib.import_module(f"{extension.MODULE}.core.{sub}")
    import torch
    results = {
        "command": "python -m bench.bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": bool(args.quick),
        "machine": machine_info(torch), "settings": dict(args.settings),
        "overrides": dict(args.overrides), "metric_samples": args.settings["metric_samples"],
        "targets": [], "our_settings": {},
    }
    peak = matmul_peak(torch, args.settings["matmul_n"], args.settings["matmul_reps"])
    results["speed"] = {"matmul_n": args.settings["matmul_n"],
                        "matmul_reps": args.settings["matmul_reps"], "matmul_gflops": peak}
    print(f"matmul peak: {peak:.1f} GFLOP/s at {torch.get_num_threads()} thread(s)", flush=True)
    for name, path in targets(args):
        res = {"name": name, "source": str(path) if path else "bpy.ops.mesh.primitive_monkey_add",
               "rows": []}
        try:
            bench_target(res, name, path, args, nm, peak, out_dir)
        except Exception as exc:
            traceback.print_exc()
            print(f"bench: target {name} failed: {exc}", flush=True)
            res["error"] = f"{type(exc).__name__}: {exc}"
        results["our_settings"] = res.pop("our_settings", results["our_settings"])
        results["targets"].append(res)
        report.write_json(results, out_dir / "results.partial.json")  # survives a crash
    for name, study in (("ablation", ablation_study), ("presets", preset_study)):
        if name in args.study:
            try:
                results[name] = study(nm, args)
            except Exception as exc:
                traceback.print_exc()
                results[f"{name}_error"] = f"{type(exc).__name__}: {exc}"
        elif (out_dir / f"{name}.json").is_file():  # from an earlier `--study {name}` run
            results[name] = json.loads((out_dir / f"{name}.json").read_text())
    if "scale" in args.study:
        try:
            results["scale"] = scale_study(nm.core, args)
        except Exception as exc:
            traceback.print_exc()
            results["scale"] = {"rows": [], "note": f"scale study failed: {exc}"}
    results["memory_method"] = PeakRSS.method or "not measured"
    results["machine"]["process_max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return results


# The studies that also run on their own: name (of OUT/<name>.json too) -> (study(nm, args)
# -> rows, its report table). Timing always runs on its own, the others when quality does not.
SINGLE_STUDIES = {
    "timing": (timing_study, report.timing_table),
    "ablation": (ablation_study, report.ablation_table),
    "presets": (preset_study, report.presets_table),
}


def main(argv=None):
    args = parse_args(argv)
    out_dir = pathlib.Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    single = [name for name in SINGLE_STUDIES if name in args.study
              and (name == "timing" or "quality" not in args.study)]
    with extension.installed() as nm:
        for name in single:  # a study on its own: OUT/<name>.json and its table
            study, table = SINGLE_STUDIES[name]
            rows = study(nm, args)
            (out_dir / f"{name}.json").write_text(json.dumps(report._jsonable(rows), indent=1))
            print(table({name: rows}))
        if "quality" not in args.study:
            return 0
        results = run(args, out_dir)
    text = report.markdown(results)
    (out_dir / "results.md").write_text(text)
    report.write_json(results, out_dir / "results.json")
    try:
        report.plot_curves(results, out_dir / "chamfer_vs_time.png")
    except Exception:
        traceback.print_exc()
    print("\n" + text)
    print(f"wrote {out_dir}/results.md, results.json, chamfer_vs_time.png, render_*.png")
    failed = [t["name"] for t in results["targets"] if t.get("error")]
    return 1 if failed and len(failed) == len(results["targets"]) else 0


if __name__ == "__main__":
    sys.exit(main())
