"""The last step of every output: no self-intersecting faces, ever.

The sphere at t=0 never intersects itself, and every vertex has a path from there to its
place on the shape. Where the discrete surface intersects, the vertices involved step
back along their own paths (with a smooth fall-off around them) until nothing crosses.
"""
import numpy as np
from scipy import sparse


def untangle(states, faces, find, max_rounds=None, reach=None, step=None):
    """Pull intersecting regions back along their paths until the mesh is clean.

    states: (K+1, V, 3) float64, the mesh at each solver grid time, states[0] the sphere
    (which never self-intersects); faces (F, 3) int; find(verts, faces) -> (B,) indices of
    self-intersecting faces. Each round, every vertex of an intersecting face and its
    neighbours steps one grid time back, and neighbouring vertices then differ by at most
    one step (a smooth fall-off). Each round lowers the total number of steps (an
    intersecting pair always has a vertex past t=0), so this ends; after `max_rounds`
    (default 3·K) every vertex steps back each round, so at most max_rounds + K rounds run
    whatever the flow did, and the worst case is the sphere itself.
    `reach`: a distance (same space); neighbours then differ by up to one step per `reach`
    of the edge between them in the last state (at least one): the fall-off spans the
    same distance on a coarse mesh as on a fine one, instead of the same number of rings.
    `step`: (V,) grid index each vertex starts from (default: the last state).
    Returns (verts (V, 3), step (V,) int grid index of each vertex, rounds run).
    """
    states = np.asarray(states, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    top, n_verts = len(states) - 1, states.shape[1]
    max_rounds = 3 * top if max_rounds is None else max_rounds
    rows = np.arange(n_verts)
    step = np.full(n_verts, top) if step is None else np.asarray(step, dtype=np.int64).copy()
    verts = states[step, rows]
    bad = find(verts, faces)
    if len(bad) == 0:
        return verts, step, 0
    neighbours = _adjacency(faces, n_verts)
    slope = None
    if reach:
        coo = neighbours.tocoo()
        length = np.linalg.norm(states[top][coo.row] - states[top][coo.col], axis=1)
        slope = np.maximum(1, np.floor(length / reach)).astype(np.int64)
    rounds = 0
    while len(bad):
        rounds += 1
        if rounds > max_rounds:
            step = np.maximum(step - 1, 0)  # the bounded fall-back: everything steps back
        else:
            hit = np.zeros(n_verts, dtype=bool)
            hit[faces[bad].ravel()] = True
            hit |= (neighbours @ hit.astype(np.float64)) > 0
            step[hit] = np.maximum(step[hit] - 1, 0)
            step = _limit_slope(step, neighbours, top, slope)
        verts = states[step, rows]
        bad = find(verts, faces)
        if len(bad) and not step.any():  # back at t=0 and still crossing: the start crosses
            break
    return verts, step, rounds


# `relax`: the crossing faces' vertices and this many rings of neighbours around them are
# smoothed, this many sweeps of the umbrella operator (each halfway to the neighbours' mean)
# per round, at most RELAX_ROUNDS rounds. Bench quality runs, seed 0, the same flows: the
# (2,3) torus knot pulled back 431 vertices (4.2%) in fan-shaped streaks without it
# (out/bench_z2), 298 with the rings kept off the target and the crossing faces' own
# vertices too (530d324, out/bench_r2), and 57 (F@0.5% 0.579 -> 0.625) when those always
# move (45c815c, out/bench_r4); the cow stayed at 0.952
RELAX_RINGS, RELAX_SWEEPS, RELAX_ROUNDS = 2, 8, 4


def relax(verts, faces, find, fixed=None, rings=RELAX_RINGS, sweeps=RELAX_SWEEPS,
          rounds=RELAX_ROUNDS):
    """Smooth the regions where a mesh crosses itself, before anything is pulled back.

    verts (V, 3) float64, faces (F, 3) int, find(verts, faces) -> (B,) indices of
    self-intersecting faces. Where a flowed sphere crosses itself it has crumpled (a
    membrane pressed across a loop, a gap or an opening): the vertices of the crossing
    faces and `rings` rings around them move halfway to the mean of their neighbours,
    `sweeps` times, and the mesh is checked again, at most `rounds` times. `fixed`:
    function (verts (V, 3)) -> (V,) bool, the vertices of the rings that stay put (those
    on the target; the crossing faces' own vertices always move), called once, at the
    first crossing, so a clean mesh costs one check. What still crosses is left to
    `untangle`. Returns (verts (V, 3), relaxed (V,) bool: moved)."""
    verts = np.asarray(verts, dtype=np.float64).copy()
    faces = np.asarray(faces, dtype=np.int64)
    relaxed = np.zeros(len(verts), dtype=bool)
    neighbours, degree, stay = None, None, None
    for _ in range(rounds):
        bad = find(verts, faces)
        if not len(bad):
            break
        if neighbours is None:
            neighbours = _adjacency(faces, len(verts))
            degree = np.maximum(np.asarray(neighbours.sum(axis=1)).ravel(), 1)[:, None]
            stay = None if fixed is None else np.asarray(fixed(verts), dtype=bool)
        region = np.zeros(len(verts), dtype=bool)
        region[faces[bad].ravel()] = True
        crossing = region.copy()
        for _ in range(rings):
            region |= (neighbours @ region.astype(np.float64)) > 0
        if stay is not None:  # the rings around keep to what is off the target
            region = (region & ~stay) | crossing
        if not region.any():
            break
        for _ in range(sweeps):
            mean = (neighbours @ verts) / degree
            verts[region] = 0.5 * (verts[region] + mean[region])
        relaxed |= region
    return verts, relaxed


def _adjacency(faces, n_verts):
    """Symmetric vertex adjacency (V, V) of a triangle mesh, CSR."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    a = sparse.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n_verts, n_verts))
    return ((a + a.T) > 0).astype(np.float64).tocsr()


def _limit_slope(step, neighbours, top, slope=None):
    """Lower steps until neighbouring vertices differ by at most one, or by `slope` (E,)
    per edge of `neighbours`' COO order (the fall-off)."""
    coo = neighbours.tocoo()
    rise = 1 if slope is None else slope
    for _ in range(top):
        lowest = np.full(len(step), 2 * top + 1)
        np.minimum.at(lowest, coo.row, step[coo.col] + rise)
        limited = np.minimum(step, lowest)
        if np.array_equal(limited, step):
            break
        step = limited
    return step


def advance(states, faces, find, step):
    """Take back what `untangle` gave up where nothing crosses: every vertex held back
    (`step` (V,) below the last state) tries one step further along its path each round;
    where that makes faces cross, the vertices of those faces that moved keep their step,
    until the trial is clean (a crossing pair always has a vertex that moved, since the
    state before was clean). Stops when a round moves nothing. Every accepted state is
    checked, so the result is as clean as `step`'s, and vertices go as far as they can on
    their own: the ring the fall-off pulled back around a crossing goes on to the end.
    Returns (verts (V, 3), step (V,))."""
    states = np.asarray(states, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    top, rows = len(states) - 1, np.arange(states.shape[1])
    step = np.asarray(step).copy()
    for _ in range(4 * top):
        held = step < top
        if not held.any():
            break
        trial = step.copy()
        trial[held] += 1
        while True:
            bad = find(states[trial, rows], faces)
            if not len(bad):
                break
            hit = np.zeros(len(step), dtype=bool)
            hit[faces[bad].ravel()] = True
            trial[hit] = step[hit]
        if np.array_equal(trial, step):
            break
        step = trial
    return states[step, rows], step
