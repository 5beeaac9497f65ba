"""One target fitted at several seeds by a given checkout: F-scores and seconds per seed.

    OMP_NUM_THREADS=1 .venv/bin/python -m bench.seeds CHECKOUT TARGET ITERATIONS SEEDS

CHECKOUT: a copy of the repository (to compare commits: `git archive <commit>` into a
folder beside this one, so ../shared/models is found the same way); TARGET: a model in
../shared/models or an .obj path (bench/fit_profile.py's loader); SEEDS: e.g. 0,1,2.
`core.run_fit` at the defaults (numpy self-intersection check); F@0.5% and F@1% are
measured in the fit's normalised space against the target's own triangles, so they are
comparable between checkouts but not equal to the bench's world-space figures. The fit is
chaotic, so one seed says little about a change's quality: compare medians.
"""
import pathlib
import sys
import time
import types



def main(checkout, target, iterations, seeds):
    root = pathlib.Path(checkout).resolve()
    package = types.ModuleType("neural_morph")
    package.__path__ = [str(root)]
    sys.modules["neural_morph"] = package
    from bench import fit_profile
    from neural_morph import core
    from neural_morph.core.metrics import surface_metrics
    path = pathlib.Path(target)
    path = path if path.suffix == ".obj" else fit_profile.MODELS / f"{target}.obj"
    from bench.objfile import read_obj
    verts, faces = read_obj(path)
    points = core.sample_surface(verts, faces, 100_000, 0)
    for seed in [int(s) for s in seeds.split(",")]:
        wall, cpu = time.perf_counter(), time.process_time()
        r = core.run_fit(points, core.user_settings(seed=seed, iterations=int(iterations)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        m = surface_metrics(r.verts, r.faces, r.model.to_normalized(verts), faces,
                            thresholds=(0.005, 0.01))
        print(f"{root.name} {target} iterations {iterations} seed {seed} "
              f"F@0.5% {m['fscore@0.005']:.3f} F@1% {m['fscore@0.01']:.3f} "
              f"self-int {r.self_intersections} wall {wall:.1f} s CPU {cpu:.1f} s", flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    main(*sys.argv[1:])
