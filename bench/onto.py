"""Morph Onto against Blender's workaround: the source mesh with Shrinkwrap, applied.

    python -m bench.onto [--only PAIR[,PAIR]] [--iterations N] [--out DIR] [--strip PAIR]
                         [--seeds 0,1,2]

For each pair (source mesh, target) it runs `nm.morph_onto` at the defaults (the add-on
imported from this checkout, as the tests do) and measures the last shape key (t=1)
against the target's world-space triangles. The workaround a user would do: duplicate
the source, place it over the target (the same normalisations our morph uses, so both
start equally aligned), add Shrinkwrap in each of its three modes, apply. Metrics as
bench.py (core.metrics.surface_metrics on 100,000 samples; F at 0.1%, 0.5% and 1% of the
target's diagonal; self-intersecting faces by Blender's BVH). Writes DIR/onto.json and
DIR/onto.md, and with --strip a frame strip of that pair's morph to docs/onto_strip.png.
With --seeds 0,1,2 each morph runs at every seed and the table gives the medians (the
worst for self-intersecting faces); the fit is chaotic, so one seed's figure is a draw.
The targets spot and cow are read from ../shared/models beside the checkout.
"""
import argparse
import json
import os
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "models"
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="neural_morph_onto_")

import bpy  # noqa: E402  (after BLENDER_USER_RESOURCES)
import numpy as np  # noqa: E402

from tools.build import extension  # noqa: E402

MODES = ("NEAREST_SURFACEPOINT", "PROJECT", "TARGET_PROJECT")
THRESHOLDS = (0.001, 0.005, 0.01)
# (pair name, source, target, what it stands for)
PAIRS = (
    ("suzanne_spot", "suzanne", "spot", "a quad head onto a smooth animal scan"),
    ("spot_cow", "spot", "cow", "one animal scan onto another (thin legs, tail)"),
    ("cube_suzanne", "cube", "suzanne", "a subdivided quad cube onto a head"),
    ("suzanne_cow", "suzanne", "cow",
     "a low-poly quad head (500 faces) onto a denser scan (5,804 triangles)"),
    ("sphere_teapot", "uvsphere", "teapot", "a UV sphere (quads, poles) onto an open, genus-1 shape"),
)


def make(kind, location):
    """The named object at `location`: Blender primitives, or an OBJ from ../shared/models."""
    if kind == "suzanne":
        bpy.ops.mesh.primitive_monkey_add(location=location)
    elif kind == "cube":
        bpy.ops.mesh.primitive_cube_add(location=location)
        bpy.ops.object.mode_set(mode='EDIT')
        bpy.ops.mesh.select_all(action='SELECT')
        bpy.ops.mesh.subdivide(number_cuts=7)
        bpy.ops.object.mode_set(mode='OBJECT')
    elif kind == "uvsphere":
        bpy.ops.mesh.primitive_uv_sphere_add(location=location)
    else:
        before = set(bpy.data.objects)
        bpy.ops.wm.obj_import(filepath=str(SHARED / f"{kind}.obj"))
        new = [o for o in bpy.data.objects if o not in before]
        bpy.context.view_layer.objects.active = new[0]
        new[0].location = location
    obj = bpy.context.active_object
    obj.name = kind
    bpy.context.view_layer.update()
    return obj


def world_mesh(nm, obj, key=None):
    """(verts (V, 3) world, triangles (F, 3)) of `obj`'s evaluated mesh, or of shape key `key`."""
    meshes = nm.blender.meshes
    if key is None:
        depsgraph = bpy.context.evaluated_depsgraph_get()
        evaluated = obj.evaluated_get(depsgraph)
        mesh = evaluated.to_mesh()
        try:
            verts, tris = meshes.mesh_vertices(mesh), meshes.mesh_triangles(mesh)
        finally:
            evaluated.to_mesh_clear()
    else:
        co = np.empty(len(obj.data.vertices) * 3, dtype=np.float32)
        key.data.foreach_get("co", co)
        verts, tris = co.reshape(-1, 3).astype(np.float64), meshes.mesh_triangles(obj.data)
    return meshes.transform_points(np.array(obj.matrix_world, dtype=np.float64), verts), tris


def row(nm, method, verts, tris, target, seconds):
    m = nm.core.metrics.surface_metrics(verts, tris, target[0], target[1], thresholds=THRESHOLDS)
    return {"method": method, "vertices": len(verts), "seconds": round(seconds, 2),
            "self_intersections": nm.blender.meshes.count_self_intersections_bvh(verts, tris),
            **{k: round(v, 4) for k, v in m.items()}}


def shrinkwrapped(nm, source, target, mode):
    """The workaround: a copy of the source placed over the target by the two
    normalisations, Shrinkwrap in `mode`, applied; returns (verts world, tris, seconds)."""
    core = nm.core
    start = time.perf_counter()
    src_world, src_tris = world_mesh(nm, source)
    tgt_world, tgt_tris = world_mesh(nm, target)
    settings = core.FitSettings()
    m_s = core.normalization(core.sample_surface(src_world, src_tris, 25_000, 0), settings.normalization)
    m_t = core.normalization(core.sample_surface(tgt_world, tgt_tris, 100_000, 0), settings.normalization)
    copy = source.copy()
    copy.data = source.data.copy()
    bpy.context.scene.collection.objects.link(copy)
    copy.matrix_world = nm.blender.meshes.matrix(
        m_t @ np.linalg.inv(m_s) @ np.array(source.matrix_world, dtype=np.float64))
    mod = copy.modifiers.new("Shrinkwrap", 'SHRINKWRAP')
    mod.target, mod.wrap_method = target, mode
    if mode == "PROJECT":
        mod.use_negative_direction = mod.use_positive_direction = True
    bpy.context.view_layer.update()
    verts, tris = world_mesh(nm, copy)
    seconds = time.perf_counter() - start
    bpy.data.objects.remove(copy)
    return verts, tris, seconds


def bench_pair(nm, name, source_kind, target_kind, iterations, seeds=(0,)):
    """One pair: our morph at each seed (the first row holds the median of every figure
    over the seeds, and `runs` each seed's row), then Shrinkwrap's three modes."""
    bpy.ops.wm.read_homefile(use_empty=True)
    source = make(source_kind, (-3.0, 0.0, 0.0))
    target = make(target_kind, (3.0, 0.0, 0.0))
    target_mesh = world_mesh(nm, target)
    rows, runs, morph = [], [], None
    for seed in seeds:
        settings = {"iterations": iterations} if iterations else {}
        start = time.perf_counter()
        morph = nm.api.morph_onto(source, target, seed=seed, **settings)
        seconds = time.perf_counter() - start
        verts, tris = world_mesh(nm, morph, morph.data.shape_keys.key_blocks[-1])
        figures = nm.blender.store.figures_of(morph)
        run = row(nm, "Neural Morph Onto", verts, tris, target_mesh, seconds)
        run.update(seed=seed, pulled_back=figures.get("pulled_back"),
                   keys=figures.get("animation_keys"), keys_added=figures.get("animation_keys_added"),
                   frames_crossing=figures.get("animation_self_intersections"),
                   source_self_intersections=figures.get("source_self_intersections"))
        runs.append(run)
    ours = {k: (float(np.median([r[k] for r in runs])) if isinstance(v, (int, float)) else v)
            for k, v in runs[0].items()}
    ours["self_intersections"] = max(r["self_intersections"] for r in runs)  # the worst, not a median
    ours["runs"] = runs
    rows.append(ours)
    for mode in MODES:
        verts, tris, sec = shrinkwrapped(nm, source, target, mode)
        rows.append(row(nm, f"Shrinkwrap {mode}", verts, tris, target_mesh, sec))
    return {"pair": name, "source": source_kind, "target": target_kind, "rows": rows,
            "source_vertices": len(source.data.vertices), "target_faces": len(target_mesh[1])}, morph


def best_clean(rows):
    clean = [r for r in rows[1:] if r["self_intersections"] == 0]
    pool = clean or rows[1:]
    return max(pool, key=lambda r: r["fscore@0.005"]), bool(clean)


def table(results):
    lines = ["| Pair | What it stands for | Vertices | F@0.1% ours / Shrinkwrap | F@0.5% ours / Shrinkwrap "
             "| F@1% ours / Shrinkwrap | Normal cons. ours / Shrinkwrap "
             "| Self-int. faces ours (source) / Shrinkwrap | Pulled back | Keys (added) | Seconds ours |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    what = {p[0]: p[3] for p in PAIRS}
    for res in results:
        ours = res["rows"][0]
        sw, clean = best_clean(res["rows"])
        mark = "" if clean else " (none clean)"
        lines.append(
            f"| {res['pair']} | {what[res['pair']]} | {ours['vertices']:,.0f} "
            f"| {ours['fscore@0.001']:.3f} / {sw['fscore@0.001']:.3f} "
            f"| {ours['fscore@0.005']:.3f} / {sw['fscore@0.005']:.3f} "
            f"| {ours['fscore@0.01']:.3f} / {sw['fscore@0.01']:.3f} "
            f"| {ours['normal_consistency']:.3f} / {sw['normal_consistency']:.3f} "
            f"| {ours['self_intersections']} ({ours['source_self_intersections']:.0f}) / "
            f"{sw['self_intersections']} {sw['method'].split()[-1]}{mark} "
            f"| {ours['pulled_back']:.0f} | {ours['keys']:.0f} ({ours['keys_added']:.0f}) "
            f"| {ours['seconds']:.1f} |")
    return "\n".join(lines)


def strip(nm, morph, path, frames=(1, 20, 40, 60, 80, 100)):
    from tools.docs import render
    copies = []
    for frame in frames:
        bpy.context.scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        mesh = bpy.data.meshes.new_from_object(morph.evaluated_get(depsgraph))
        copy = bpy.data.objects.new(f"frame {frame}", mesh)
        copy.matrix_world = morph.matrix_world
        bpy.context.scene.collection.objects.link(copy)
        copies.append(copy)
    render.side_by_side(copies, path, [f"frame {f}" for f in frames], size=(2400, 520))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--only", default="", help="comma-separated pair names")
    p.add_argument("--iterations", type=int, default=0, help="fit iterations (default: the operator's)")
    p.add_argument("--out", default=str(ROOT / "out" / "onto"))
    p.add_argument("--strip", default="", help="pair whose morph is rendered to docs/onto_strip.png")
    p.add_argument("--seeds", default="0", help="comma-separated seeds; the table gives medians")
    args = p.parse_args(argv)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    addon = extension.import_checkout()
    addon.register()
    import neural_morph
    from neural_morph import api  # noqa: F401  (nm.api)
    nm = neural_morph
    results = []
    try:
        for name, src, tgt, _ in PAIRS:
            if args.only and name not in args.only.split(","):
                continue
            res, morph = bench_pair(nm, name, src, tgt, args.iterations,
                                    tuple(int(x) for x in args.seeds.split(",")))
            results.append(res)
            print(json.dumps(res), flush=True)
            if name == args.strip:
                strip(nm, morph, ROOT / "docs" / "onto_strip.png")
            (out / "onto.json").write_text(json.dumps(results, indent=1))
        (out / "onto.md").write_text(table(results) + "\n")
        print(table(results))
    finally:
        addon.unregister()
        sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
