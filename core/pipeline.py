"""From target samples to a clean output mesh: `run_fit` fits, `output_mesh` turns a flow
into the mesh every caller (fit, remesh, the API, the job) writes."""
import contextlib
import dataclasses
import gc
import threading

import numpy as np

from . import storage
from .fitted_flow import FittedFlow
from .intersect import local_checks, self_intersecting_faces
from .metrics import mesh_chamfer
from .seams import unfolded
from .snap import vertex_normals
from .training import fit
from .untangle import advance, relax, untangle


@dataclasses.dataclass
class FitResult:
    """A fitted flow and its output mesh, in normalised space (the unit ball)."""
    model: FittedFlow
    verts: np.ndarray          # (V, 3) float64, normalised space
    faces: np.ndarray          # (F, 3) int64
    level: int                 # icosphere level actually used
    self_intersections: int    # intersecting faces of the output (0: untangled)
    chamfer: float             # mean squared NN distance, both directions, normalised space
    flow_json: str             # the model as plain JSON, made off the main thread
    pulled_back: int = 0       # vertices the untangle step held back behind the flow's end
    pulled_distance: float = 0.0  # the farthest of them from its place, unit-ball units
    snap_held: int = 0         # vertices at the flow's end whose snap was held back (or part of it)
    relaxed: int = 0           # vertices smoothed where the flowed sphere crossed itself (untangle.relax)
    creased: int = 0           # vertices moved onto the target's edges and corners (snap.crease)
    seamed: int = 0            # vertices of branches stretched onto the body they meet (seams.py)
    source_crossing: int = 0   # faces of a source mesh that crossed already at t=0 (left so)


_gc_lock = threading.Lock()
_gc_pauses = {"depth": 0, "was_enabled": False}


@contextlib.contextmanager
def cyclic_gc_paused():
    """Python's cycle collector off for the block, then as it was (nested and threaded
    blocks: off from the first in to the last out). A fit makes next to no reference
    cycles (about 120 objects for a whole default fit), but the tens of thousands of
    short-lived lists a Blender BVH check builds set off full collections of Blender's
    heap (about 220,000 objects): 8-9 of them, about 0.9 s of a 14 s default fit of the
    cow (issue 19). Every output (a remesh, each animation frame) pauses it too: one BVH
    check of the comb's 82k faces took 128 ms for the vertex lists with it on, 12 ms
    off. Objects without cycles are freed as ever, by their reference counts."""
    with _gc_lock:
        if _gc_pauses["depth"] == 0:
            _gc_pauses["was_enabled"] = gc.isenabled()
            gc.disable()
        _gc_pauses["depth"] += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pauses["depth"] -= 1
            if _gc_pauses["depth"] == 0 and _gc_pauses["was_enabled"]:
                gc.enable()


@cyclic_gc_paused()
def output_mesh(model, level, find=self_intersecting_faces, t=1.0, report=None):
    """The flowed icosphere at `level` and time `t`, free of self-intersections:
    (verts (V, 3) normalised, faces (F, 3), level, intersecting faces left).

    The flow is integrated on the output solver grid (`steps` steps per unit time),
    `untangle` pulls any region that intersects back along its own path, and `advance`
    lets every vertex held back go on again as far as it can without crossing
    (untangle.py), so the count left is 0 (settings.untangle=False, for measurements only, skips that and
    counts). `find(verts, faces)` returns the indices of self-intersecting faces (Blender
    passes its BVH tree); `find=None` skips the check and the untangling (live previews)
    and reports 0. `report`, a dict, receives what the untangling gave up: "pulled_back"
    (vertices held back behind the flow's end), "pulled_distance" (the farthest of them
    from its place, normalised), "snap_held" (vertices at the flow's end whose last-
    millimetre snap was held back), "relaxed" (vertices smoothed first where a flowed
    sphere crossed itself, untangle.relax; the snap is then made again from there),
    "creased" (vertices that reached the snap and then moved onto the target's edges and
    corners, snap.crease, wherever that crosses nothing) and "seamed" (vertices of a
    sphere stretched first until it meets the bigger one it joins on the target,
    FittedFlow.seamed, wherever that crosses nothing).

    A source mesh (Morph Onto) that crosses itself at t=0 keeps those crossings: its
    connected parts that cross each other at t=0 may go on crossing each other
    (`report` gets "source_crossing", the faces crossing at t=0), and every other pair of
    faces is kept clean, so no part crosses anything it did not cross at the start.
    """
    states, faces = model.path(level, t), model.sphere(level)[1]
    find = local_checks(find)
    if find is not None and model.from_mesh:
        find = beyond_start(model, find, report)
    if find is not None and not model.settings.untangle:  # the ablation without untangling
        return states[-1], faces, level, len(find(states[-1], faces))
    reach = FALLOFF_REACH if model.from_mesh else None
    snapped = t >= 1.0 and model.snaps  # the path's last state is the snap (FittedFlow.path)
    if find is not None and not model.from_mesh:  # a user's own mesh is never smoothed
        end = len(states) - 2 if snapped else len(states) - 1
        smooth, relaxed = relax(states[end], faces, find, fixed=lambda v: _on_target(model, v))
        if relaxed.any():
            states = states.copy()
            states[end] = smooth
            if snapped:
                states[-1] = model.snapped(smooth, faces)
        if report is not None:
            report["relaxed"] = int(relaxed.sum())
    verts, faces = path_mesh(states, faces, find, report, reach, snapped, seen=model.to_target)
    if snapped and find is not None and not model.from_mesh:
        check = check_as_stored(find, model.to_target)
        goal, sides = model.seamed(verts, faces, level)
        stretched, seamed = clean_moves(verts, verts, goal, faces, check)
        sides &= (stretched != verts).any(axis=1)  # only the moves that were kept
        verts = stretched
        if sides.any():  # the stretched sides back onto the target, where that crosses nothing
            snapped_sides = unfolded(verts, np.where(sides[:, None], model.snapped(verts, faces),
                                                     verts), faces)
            verts, _ = clean_moves(verts, verts, snapped_sides, faces, check)
        verts, creased = clean_moves(verts, states[-1], model.creased(verts, faces), faces, check)
        if report is not None:
            report.update(seamed=seamed, creased=creased)
    return verts, faces, level, 0


def clean_moves(verts, end, goal, faces, check):
    """`verts` (V, 3), a clean mesh, with each vertex that stands at the path's end `end`
    (V, 3) moved to `goal` (V, 3), and each move that makes faces cross by `check` taken
    back, round by round, until nothing crosses (a crossing pair always has a vertex that
    moved, since `verts` is clean): (verts (V, 3), the number of vertices moved)."""
    moved = (verts == end).all(axis=1) & (goal != verts).any(axis=1)
    trial = np.where(moved[:, None], goal, verts)
    while moved.any():
        bad = check(trial, faces)
        if not len(bad):
            break
        back = np.zeros(len(verts), dtype=bool)
        back[faces[bad].ravel()] = True
        back &= moved
        if not back.any():  # not these moves' crossing: leave the mesh as it was
            return verts, 0
        trial[back] = verts[back]
        moved &= ~back
    return trial, int(moved.sum())


# `relax` smooths only vertices of a flowed sphere at least this far (normalised units) from
# the target's samples: a crumpled membrane, never the surface lying on the target
RELAX_OFF = 0.02


def _on_target(model, verts):
    """(V,) bool: `verts` (V, 3) normalised within RELAX_OFF of the model's stored target
    samples (none without samples)."""
    off = model.sample_distance(verts)
    return np.zeros(len(verts), dtype=bool) if off is None else off < RELAX_OFF


# a source mesh's untangle fall-off: one solver step per this distance of an edge (normalised
# units, about a level-5 icosphere's edge), so a coarse mesh is not pulled back ring by ring.
# After untangling, every output lets `advance` take back what the fall-off gave up where
# nothing crosses (spot onto the cow: F@0.5% 0.568 -> 0.708; the cow fitted from the sphere:
# 203 -> 103 vertices held back, the (2,3) torus knot 3,451 -> 1,286; all clean)
FALLOFF_REACH = 0.04


@cyclic_gc_paused()
def path_mesh(states, faces, find=self_intersecting_faces, report=None, reach=None,
              snapped=False, seen=None):
    """The clean mesh (verts (V, 3), faces) from the path states (K+1, V, 3) of an
    icosphere: the last state, untangled unless `find` is None, then advanced again where
    nothing crosses (untangle.advance; `report` as output_mesh; `snapped`: the last state is
    the snap of the one before it).

    The result is checked once more as it is stored (float32), with a clearance (sheets
    closer than CLEARANCE count as crossing) and, with `seen` (normalised (V, 3) -> (V, 3)
    in the space a user sees, e.g. FittedFlow.to_target), there too: two sheets that a
    crossing check in float64 finds a hair apart may touch after rounding, and those are
    untangled further (checked in every space) from where they stand."""
    if find is None:
        return states[-1], faces
    find = local_checks(find)
    verts, step, _ = untangle(states, faces, find, reach=reach)
    if (step < len(states) - 1).any():  # take back what the fall-off gave up where it can
        verts, step = advance(states, faces, find, step)
    stored = check_as_stored(find, seen)
    if len(stored(verts, faces)):
        verts, step, _ = untangle(states, faces, stored, reach=reach, step=step)
    if report is not None:
        flow_end = len(states) - 2 if snapped else len(states) - 1
        behind = step < flow_end
        moved = np.linalg.norm(verts - states[-1], axis=1)
        report.update(pulled_back=int(behind.sum()),
                      pulled_distance=float(moved[behind].max(initial=0.0)),
                      snap_held=int(((step == flow_end) & (moved > 0)).sum()) if snapped else 0)
    return verts, faces


# sheets closer than this (normalised units) count as crossing in the check as stored:
# the snap can lay two sheets on one plane of the target (a comb tooth's side), and whether
# such coplanar faces cross then depends on the last bit of rounding, which differs between
# the object's matrix in float32 and in float64 (the bench counted 2 pairs on the comb that
# this check without a clearance passed). 1e-5 is about 100 float32 steps at the unit
# ball's edge; on the cow, spot, the mug, the table and the torus knot no face comes closer.
CLEARANCE = 1e-5


def check_as_stored(find, seen=None):
    """`find` on the vertices rounded to float32 (as a Blender mesh stores them), on that
    surface moved CLEARANCE out and in along its normals (sheets closer than that touch),
    and in the space `seen` maps the rounded vertices to (None: normalised only): (B,)
    faces crossing in any of them."""
    def check(verts, faces):
        rounded = np.asarray(verts, dtype=np.float32).astype(np.float64)
        bad = np.asarray(find(rounded, faces), dtype=np.int64)
        normals = vertex_normals(rounded, faces)
        for side in (1.0, -1.0):
            moved = rounded + side * CLEARANCE * normals
            bad = np.union1d(bad, np.asarray(find(moved, faces), dtype=np.int64))
        if seen is not None:
            bad = np.union1d(bad, np.asarray(find(seen(rounded), faces), dtype=np.int64))
        return bad
    return check


def beyond_start(model, find, report=None):
    """`find` that ignores crossings between the connected parts of a source mesh that
    already cross each other at t=0 (`verts`): those part pairs are found once per source
    and kept on it (`start.crossing`, (P, 2) part pairs; a part that crosses itself is a
    pair with itself). As the shape moves, the line where two crossing parts meet moves
    onto other faces of theirs, so only the parts can be told apart, not the faces. Any
    other pair counts, so untangling ends at t=0 at worst, where only those parts cross.
    `find` must take `pairs=True` (intersect.py and Blender's check do). A flow from
    spheres gets `find` back as it is."""
    start = model.start
    if not model.from_mesh:
        return find
    verts, faces, _ = start.mesh()
    part = start.face_parts()
    if start.crossing is None:
        pairs = np.asarray(find(verts, faces, pairs=True), dtype=np.int64).reshape(-1, 2)
        start.crossing = np.unique(np.sort(part[pairs], axis=1), axis=0)
        start.crossing_faces = len(np.unique(pairs))
    if report is not None:
        report["source_crossing"] = start.crossing_faces
    if not len(start.crossing):
        return find
    n = int(part.max()) + 1
    known = start.crossing[:, 0] * n + start.crossing[:, 1]

    def find_new(v, f):
        found = np.asarray(find(v, f, pairs=True), dtype=np.int64).reshape(-1, 2)
        parts = np.sort(part[found], axis=1)
        return np.unique(found[~np.isin(parts[:, 0] * n + parts[:, 1], known)])
    return find_new


def run_fit(target_points, settings, progress=None, cancel=None, init=None, snapshot=None,
            find=self_intersecting_faces, labels=None, source=None, normals=None, backed=None):
    """Fit `target_points` (M, 3) and return a FitResult with a clean output mesh.

    `find(verts, faces)` returns self-intersecting face indices (Blender passes its BVH
    tree); `labels` (M,) the separate piece of each point (parts.surface_parts), or None;
    `source` (verts (V, 3), faces (F, 3) triangles), target space: start from that mesh
    instead of the sphere (training.fit); `normals` (M, 3) the target's normals at the
    points, for the snap (snap.py), and `backed` (M,) bool whether the target has surface
    behind each point (training.fit)."""
    with cyclic_gc_paused():
        model = fit(target_points, settings, progress=progress, cancel=cancel, init=init,
                    snapshot=snapshot, labels=labels, source=source, normals=normals,
                    backed=backed)
        given_up = {}
        verts, faces, level, bad = output_mesh(model, settings.resolution, find, report=given_up)
        unit = model.to_normalized(np.asarray(target_points)[:50_000])
        chamfer = mesh_chamfer(verts, faces, unit, seed=settings.seed)
        return FitResult(model, verts, faces, level, bad, chamfer, storage.to_json(model),
                         **given_up)
