"""Is any frame of an animation rougher than its two ends? (issue 16, item 5)

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.smoothness [--targets suzanne,spot,cow,fandisk]
        [--keys 8] [--frames 100] [--level 5]

For each target (Suzanne through the `bpy` module, any other name an OBJ in
../shared/models, as bench.fit_profile): `core.run_fit` at the operator's defaults, with
the target's normals, then the states Animate keys (`animation.clean_trajectory`: the
icosphere at `keys` evenly spaced times, each untangled like the output) and every frame
of the linear blend between neighbouring keys that the shape keys show, `frames` frames
from the sphere (t = 0) to the shape (t = 1). Each is measured with
`core.metrics.roughness` (the mean of 1 - cos between neighbouring faces' normals).
Prints a markdown table: the roughness of both ends, the roughest frame and its time,
and whether it is rougher than the rougher end. Keys added where a blend crosses itself
are left out: they are the flow's own states, like the keys here.
"""
import argparse
import sys
import types

import numpy as np

from bench.fit_profile import ROOT, load_mesh


def frame_states(keys, frames):
    """(frames, V, 3): the linear blends of `keys` (K, V, 3), evenly spaced in time."""
    out = []
    for t in np.linspace(0.0, 1.0, frames):
        x = t * (len(keys) - 1)
        j = min(int(np.floor(x)), len(keys) - 2)
        w = x - j
        out.append((1.0 - w) * keys[j] + w * keys[j + 1])
    return np.stack(out)


def measure(name, keys_count, frames, level):
    """{target, ends, roughest, at} of one default fit's animation."""
    from neural_morph import core
    from neural_morph.core import animation, metrics, sampling
    verts, faces = load_mesh(name)
    points, tri = sampling.sample_surface(verts, faces, 100_000, 0, return_faces=True)
    normals = sampling.triangle_normals(verts, faces)[tri]
    settings = core.FitSettings(resolution=level)
    result = core.run_fit(points, settings, normals=normals)
    states, sphere_faces = animation.clean_trajectory(result.model, level,
                                                      np.linspace(0.0, 1.0, keys_count))
    rough = [metrics.roughness(s, sphere_faces) for s in frame_states(states, frames)]
    worst = int(np.argmax(rough))
    return {"target": name, "start": rough[0], "end": rough[-1], "roughest": rough[worst],
            "at": worst / (frames - 1)}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--targets", default="suzanne,spot,cow,fandisk")
    p.add_argument("--keys", type=int, default=8)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--level", type=int, default=5)
    args = p.parse_args(argv)
    if "neural_morph" not in sys.modules:  # the repository as a package, without bpy's add-on
        package = types.ModuleType("neural_morph")
        package.__path__ = [str(ROOT)]
        sys.modules["neural_morph"] = package
    rows = [measure(t, args.keys, args.frames, args.level) for t in args.targets.split(",") if t]
    print("| Target | Roughness at t = 0 | at t = 1 | Roughest frame (t) | Rougher than both ends? |")
    print("|---|---|---|---|---|")
    for r in rows:
        worse = r["roughest"] > max(r["start"], r["end"])
        print(f"| {r['target']} | {r['start']:.5f} | {r['end']:.5f} | {r['roughest']:.5f} "
              f"({r['at']:.2f}) | {'yes' if worse else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
