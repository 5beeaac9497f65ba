"""Write the benchmark's results.md, results.json and chamfer_vs_time.png (no bpy here)."""
import json
import math

import numpy as np

METRIC_COLUMNS = (
    ("Method", "method", "{}"),
    ("Vertices", "vertices", "{:,}"),
    ("Seconds", "seconds", "{:.2f}"),
    ("Peak RSS MB", "peak_rss_mb", "{:.0f}"),
    ("+RSS MB", "rss_increase_mb", "{:.0f}"),
    ("Chamfer-L1", "chamfer_l1", "{:.5f}"),
    ("F@0.1%", "fscore@0.001", "{:.3f}"),
    ("F@0.5%", "fscore@0.005", "{:.3f}"),
    ("F@1%", "fscore@0.01", "{:.3f}"),
    ("F@2%", "fscore@0.02", "{:.3f}"),
    ("Normal cons.", "normal_consistency", "{:.3f}"),
    ("Self-int. faces", "self_intersections", "{}"),
)


def _fmt(value, pattern):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    try:
        return pattern.format(value)
    except (ValueError, TypeError):
        return str(value)


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def quality_table(results):
    header = ["Target"] + [c[0] for c in METRIC_COLUMNS]
    rows = []
    for t in results["targets"]:
        if t.get("error") and not t.get("rows"):
            rows.append([t["name"], f"**failed**: {t['error']}"] + [""] * (len(header) - 2))
            continue
        for r in t.get("rows", []):
            cells = [t["name"]]
            for _, key, pattern in METRIC_COLUMNS:
                value = r.get(key)
                if key == "method" and r.get("best"):
                    value = f"{value} (best Shrinkwrap)"
                if key == "self_intersections" and r.get("self_intersections_bvh") is not None:
                    cells.append(f"{_fmt(value, pattern)} / {r['self_intersections_bvh']}")
                    continue
                cells.append(_fmt(value, pattern))
            rows.append(cells)
        if t.get("error"):
            rows.append([t["name"], f"**failed after partial results**: {t['error']}"]
                        + [""] * (len(header) - 2))
    return _table(header, rows)


def best_shrinkwrap(target):
    """Shrinkwrap's best clean mode (no self-intersecting face, Blender's count) by F@0.5%;
    its best mode when none is clean."""
    rows = [r for r in target.get("rows", []) if r.get("mode")]
    clean = [r for r in rows if r.get("self_intersections_bvh") == 0]
    return max(clean or rows, key=lambda r: r["fscore@0.005"]) if rows else None


def first_reach(checks, goal):
    return next((t for t, f in checks or [] if f >= goal), None)


def ttq_table(results):
    """Seconds each contender needs to first reach the best Shrinkwrap's F@1%."""
    header = ["Target", "Goal: best Shrinkwrap F@1%", "Neural Morph: seconds to goal",
              "Neural Morph F@1% at the end (s)", "Seed config: seconds to goal",
              "Seed F@1% at the end of its budget (s)"]
    rows = []
    for t in results["targets"]:
        best = best_shrinkwrap(t)
        if best is None or not t.get("ttq_ours"):
            continue
        goal = best["fscore@0.01"]
        ours, seed = t["ttq_ours"], t.get("ttq_seed") or []
        reach_ours, reach_seed = first_reach(ours, goal), first_reach(seed, goal)
        rows.append([t["name"], _fmt(goal, "{:.3f}"),
                     _fmt(reach_ours, "{:.1f}") if reach_ours is not None else "never",
                     f"{ours[-1][1]:.3f} ({ours[-1][0]:.0f})",
                     (_fmt(reach_seed, "{:.1f}") if reach_seed is not None
                      else f"never (in {t.get('seed_budget', 0):.0f} s)"),
                     f"{seed[-1][1]:.3f} ({seed[-1][0]:.0f})" if seed else "–"])
    return _table(header, rows)


def timing_table(results):
    rows = results.get("timing") or []
    header = ["Target", "Operator seconds, all in (median)", "Runs", "CPU seconds (median)",
              "Self-int. faces"]
    return _table(header, [[r["target"], _fmt(r["median"], "{:.1f}"),
                            ", ".join(f"{x:.1f}" for x in r["seconds"]),
                            _fmt(r.get("cpu_median"), "{:.1f}"), r["self_intersections"]]
                           for r in rows])


def ablation_table(results):
    rows = results.get("ablation") or []
    header = ["Target", "Variant", "F@0.5%", "F@1%", "Self-int. faces (BVH)",
              "Faces crossing before untangle", "Seconds"]
    return _table(header, [[r["target"], r["variant"], _fmt(r["fscore@0.005"], "{:.3f}"),
                            _fmt(r["fscore@0.01"], "{:.3f}"), r["self_intersections"],
                            r.get("raw_self_intersections", "–"),
                            _fmt(r["seconds"], "{:.1f}")] for r in rows])


def presets_table(results):
    rows = results.get("presets") or []
    header = ["Target", "Preset", "Iterations", "Points", "Level", "Seconds, all in",
              "F@0.5% ours / Shrinkwrap", "F@1% ours / Shrinkwrap", "Self-int. faces"]
    out = []
    for r in rows:
        sw = r.get("shrinkwrap") or {}
        out.append([r["target"], r["preset"], r["iterations"], f"{r['points']:,}", r["level"],
                    _fmt(r["seconds"], "{:.1f}"),
                    f"{r['fscore@0.005']:.3f} / {_fmt(sw.get('fscore@0.005'), '{:.3f}')}",
                    f"{r['fscore@0.01']:.3f} / {_fmt(sw.get('fscore@0.01'), '{:.3f}')}",
                    r["self_intersections"]])
    return _table(header, out)


def bar_table(results):
    """Against the bar: ours vs the best Shrinkwrap at the same vertex count."""
    header = ["Target", "Kind", "F@0.1% ours / Shrinkwrap", "F@0.5% ours / Shrinkwrap",
              "F@1% ours / Shrinkwrap", "Normal cons. ours / Shrinkwrap", "Parts",
              "Vertices ours / Shrinkwrap", "Pulled back / snap held / relaxed / creased",
              "Self-int. faces ours",
              "Seconds ours", "Closer at all three?"]
    rows = []
    for t in results["targets"]:
        ours = next((r for r in t.get("rows", []) if r["method"] == "Neural Morph"), None)
        best = best_shrinkwrap(t)
        if ours is None or best is None:
            continue
        keys = ("fscore@0.001", "fscore@0.005", "fscore@0.01")
        closer = all(ours.get(k, 0) > best.get(k, 0) for k in keys)
        clean = "" if best.get("self_intersections_bvh") == 0 else " (none clean)"
        rows.append([t["name"], t.get("kind", "")]
                    + [f"{_fmt(ours.get(k), '{:.3f}')} / {_fmt(best.get(k), '{:.3f}')}" for k in keys]
                    + [f"{ours['normal_consistency']:.3f} / {best['normal_consistency']:.3f}",
                       _fmt(ours.get("parts"), "{}"), f"{ours['vertices']:,} / {best['vertices']:,}",
                       _fmt(ours.get("pulled_back"), "{:,}") + " / " + _fmt(ours.get("snap_held"), "{:,}")
                       + " / " + _fmt(ours.get("relaxed"), "{:,}")
                       + " / " + _fmt(ours.get("creased"), "{:,}"),
                       ours.get("self_intersections_bvh"), _fmt(ours["seconds"], "{:.1f}"),
                       ("yes" if closer else "no") + clean])
    return _table(header, rows)


def tight_table(results):
    """F at tight tolerances: sampled (the bar's metric) against what the target itself
    scores, and on exact point-to-surface distances (bench/surface_distance.py); ours vs
    Shrinkwrap's best clean mode, as in bar_table."""
    header = ["Target", "Kind", "Sampled F@0.1%: ours / Shrinkwrap / target itself",
              "Exact F@0.05% ours / Shrinkwrap", "Exact F@0.1% ours / Shrinkwrap",
              "Exact F@0.5% ours / Shrinkwrap",
              "Normal cons.: ours / Shrinkwrap / target itself", "Closer at all three exact?"]
    keys = ("exact_fscore@0.0005", "exact_fscore@0.001", "exact_fscore@0.005")
    rows = []
    for t in results["targets"]:
        ours = next((r for r in t.get("rows", []) if r["method"] == "Neural Morph"), None)
        best = best_shrinkwrap(t)
        ceiling = t.get("sampled_ceiling") or {}
        if ours is None or best is None or keys[0] not in ours:
            continue
        closer = all(ours.get(k, 0) > best.get(k, 0) for k in keys)
        clean = "" if best.get("self_intersections_bvh") == 0 else " (none clean)"
        rows.append([t["name"], t.get("kind", ""),
                     " / ".join(_fmt(r.get("fscore@0.001"), "{:.3f}") for r in (ours, best, ceiling))]
                    + [f"{_fmt(ours.get(k), '{:.3f}')} / {_fmt(best.get(k), '{:.3f}')}" for k in keys]
                    + [" / ".join(_fmt(r.get("normal_consistency"), "{:.3f}")
                                  for r in (ours, best, ceiling)),
                       ("yes" if closer else "no") + clean])
    return _table(header, rows)


def speed_table(results):
    header = ["Target", "Points", "Width × depth", "RK4 steps", "MLP GFLOP/iteration",
              "s/iteration (median)", "Achieved GFLOP/s", "Fraction of matmul peak"]
    rows = []
    for t in results["targets"]:
        for key in ("speed_default", "speed_2000"):
            s = t.get(key)
            if not s:
                continue
            rows.append([t["name"], f"{s['points']:,}", f"{s['width']} × {s['depth']}", s["steps"],
                         _fmt(s["flops_per_iteration"] / 1e9, "{:.3f}"),
                         _fmt(s["seconds_per_iteration"], "{:.4f}"),
                         _fmt(s["achieved_gflops"], "{:.2f}"),
                         _fmt(100 * s["fraction_of_peak"], "{:.1f} %")])
    return _table(header, rows)


def scale_table(results):
    sc = results.get("scale") or {}
    header = ["Triangles", "Vertices", "Sample 100k points, s (median)", "Fit loop s/iteration"]
    rows = []
    for r in sc.get("rows", []):
        rows.append([f"{r['triangles']:,}", f"{r['vertices']:,}", _fmt(r["sample_seconds"], "{:.3f}"),
                     _fmt(r.get("fit_seconds_per_iteration"), "{:.4f}")])
    return _table(header, rows)


def markdown(results):
    m = results["machine"]
    sp = results.get("speed", {})
    out = [
        "# Neural Morph benchmark",
        "",
        f"`{results['command']}` — {results['date']} — {m['cpu']}, nproc {m['nproc']}, "
        f"torch {m['torch']} with {m['torch_threads']} thread(s), bpy {m['blender']}, "
        f"load average at start {m['load_average']}.",
        "",
    ]
    if results.get("quick"):
        out += ["**--quick smoke run: tiny settings, figures are not representative.**", ""]
    out += [
        f"Neural Morph settings (operator defaults{' with overrides' if results['overrides'] else ''}): "
        + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                   for k, v in results["our_settings"].items()) + ".",
        "",
        "## Quality, time and memory",
        "",
        quality_table(results),
        "",
        "Chamfer-L1: mean Euclidean nearest distance (both directions averaged) over the "
        "target's bounding-box diagonal; F@τ: F-score at τ of that diagonal; normal cons.: mean "
        f"|cos| between nearest points' face normals; all on {results['metric_samples']:,} "
        "area-weighted samples of each surface against the target's world-space triangles. "
        "Self-int. faces: triangles crossing a triangle they share no vertex with "
        "(`core.count_self_intersections` / Blender BVHTree overlap count). "
        "Seconds: Neural Morph = the operator's own `neural_morph_seconds` (sampling, fit, "
        "choice of level; the wall time around the operator call is in results.json); "
        "Shrinkwrap = sphere creation plus modifier evaluation through the depsgraph. "
        "Peak RSS: the process's resident-set high-water mark while the contender ran "
        f"({results['memory_method']}); +RSS: that peak minus the RSS when it started. Every "
        "contender runs in this one process, and torch and numpy keep memory they freed, so "
        "the first target's +RSS includes one-time allocations and later ones can read low. "
        "The best Shrinkwrap mode (highest F@1%) is marked and rendered; PROJECT projects "
        "along normals in both directions.",
        "",
        "## Against the bar",
        "",
        bar_table(results),
        "",
        "## Tight tolerances",
        "",
        tight_table(results),
        "",
        "Sampled F@0.1%: the metric above, whose random samples lie further apart than 0.1% "
        "of the diagonal, so the target measured against a second set of its own samples "
        "(\"target itself\") scores far below 1. Exact: each sample measured to the other "
        "mesh's nearest triangle (Blender's BVHTree), so a perfect fit scores 1.",
        "",
        "## Time to quality",
        "",
        ttq_table(results),
        "",
        "Seconds of training until the output first reaches the best Shrinkwrap's F@1% on "
        "this target, checked every few seconds of training time (the checks' own time is "
        "left out; F@1% on fewer samples than the table above). Neural Morph: `core.fit` at "
        "the operator's settings, its output level without untangling. Seed: residual MLP "
        "(width 20, 2 layers, LayerNorm, Tanh output) on [x, y, z, t], "
        "`torchdiffeq.odeint_adjoint` dopri5 (rtol 1e-7, atol 1e-9), Adam lr 0.01 with "
        "ReduceLROnPlateau(0.99), 2,000 points, squared KD-tree Chamfer, trained for twice "
        "our fit time (at least a minute) in the same process; its row in the table above "
        "is its surface when it had trained as long as our fit took.",
        "",
        "## Ablation",
        "",
        ablation_table(results),
        "",
        "Each ingredient of the default fit switched off in turn (`core.run_fit` with "
        "Blender's BVH check, same samples and seed, the default's iterations for every "
        "variant, the default included), metrics as in the first table. Untangling makes every output "
        "clean, so the ingredients that keep the field from folding show in the column of "
        "faces that crossed before it (the work the untangle had to do, and the part of the "
        "surface it pulled back).",
        "",
        "## Presets",
        "",
        presets_table(results),
        "",
        "Each bundled preset (core/presets.py: Draft, Default, Detailed) applied to the fit "
        "operator as the panel's preset menu does, on a fresh file per run. Seconds: wall time "
        "of the operator call (sampling, fit, untangling, writing the object). Shrinkwrap: its "
        "best mode (highest F@1%) on an icosphere at the same level.",
        "",
        "## Speed: fraction of this machine's matmul throughput",
        "",
        f"Peak measured by a {sp.get('matmul_n', '?')}×{sp.get('matmul_n', '?')} float32 "
        f"`torch.matmul` at {m['torch_threads']} thread(s): "
        f"**{_fmt(sp.get('matmul_gflops'), '{:.1f}')} GFLOP/s** (best of {sp.get('matmul_reps', '?')}).",
        "",
        speed_table(results),
        "",
        "MLP FLOPs per iteration = `VelocityField.flops_per_eval()` per point per evaluation × "
        "4 evaluations per RK4 step × steps × points × 3 (forward + backward). Seconds per "
        "iteration: median over the Chamfer iterations of a `core.fit` run with the operator's "
        "settings (default points) and of the 2,000-point run above; they include the "
        "KD-tree queries and the optimiser step, which the FLOP count leaves out.",
        "",
        "## Scale: target size vs time",
        "",
        scale_table(results),
        "",
        (results.get("scale") or {}).get("note", ""),
        "",
    ]
    curve = [t for t in results["targets"] if t.get("curve")]
    if curve:
        out += ["## Files", "",
                "chamfer_vs_time.png: training loss of a `core.fit` run with the operator's "
                "settings on the operator's own target samples, against wall seconds. "
                + "; ".join(f"{t['name']}: loss history "
                            f"{'identical to' if t['curve'].get('identical_to_operator') else 'differs from'}"
                            " the operator's" for t in curve) + ".",
                "render_<target>.png: target, Neural Morph, best Shrinkwrap (Workbench).", ""]
    errors = [(t["name"], e) for t in results["targets"] for e in t.get("errors", [])]
    if errors:
        out += ["## Errors", ""] + [f"- {n}: {e}" for n, e in errors] + [""]
    return "\n".join(out)


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (np.bool_,)):
        return bool(value)
    return value


def write_json(results, path):
    with open(path, "w") as f:
        json.dump(_jsonable(results), f, indent=1)


def plot_curves(results, path):
    """Our training loss vs wall seconds per target (log scale), seed's when measured."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    drawn = False
    for i, t in enumerate(results["targets"]):
        c = t.get("curve")
        if not c:
            continue
        color = f"C{i % 10}"
        times, losses, warm = np.asarray(c["seconds"]), np.asarray(c["losses"]), c["warm_start"]
        if warm:
            ax.plot(times[:warm], losses[:warm], color=color, lw=0.8, ls=":", alpha=0.7)
        ax.plot(times[warm:], losses[warm:], color=color, lw=1.2, label=f"{t['name']} (Neural Morph)")
        drawn = True
        sq = t.get("seed_quality")
        if sq and sq.get("history"):
            h = np.asarray(sq["history"])
            ax.plot(h[:, 0], h[:, 1], color=color, lw=1.0, ls="--", label=f"{t['name']} (seed config)")
    if not drawn:
        ax.text(0.5, 0.5, "no curves (every target failed)", ha="center", transform=ax.transAxes)
    ax.set_yscale("log")
    ax.set_xlabel("wall seconds since the fit started")
    ax.set_ylabel("training loss (squared Chamfer, normalised space)")
    ax.set_title("Neural Morph training loss vs wall time\n"
                 "(dotted: warm-start iterations, whose loss is the radial regression)", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    if drawn:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
