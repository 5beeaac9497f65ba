"""The training loss: small terms with one signature, composed by the fit through TERMS.

Every term is `term(batch) -> scalar tensor`; the fit adds weight × term for each entry
of TERMS whose weight is not zero. A new loss term is one function here, one entry in
TERMS and one weight field on settings.FitSettings.
"""
import dataclasses

import numpy as np
import torch
import torch.nn.functional as F
from scipy.spatial import cKDTree

from .metrics import nearest


@dataclasses.dataclass
class Batch:
    """What one training iteration hands to the loss terms (normalised space)."""
    points: torch.Tensor            # (N, 3) flowed sphere points, differentiable
    target: torch.Tensor            # (M, 3) dense target samples (constant)
    tree: object                    # cKDTree of `target`
    sample: torch.Tensor            # (B, 3) fresh target samples for the target→model term
    squared: bool = False           # Chamfer on squared instead of Euclidean distances
    shape_faces: torch.Tensor | None = None  # (F, 3) faces of the icosphere at the end of `points`
    shape_count: int = 0            # how many of the last `points` are that icosphere
    energy: torch.Tensor | None = None  # mean kinetic energy ∫ |f|² dt of the flowed points
    field: object = None            # the velocity field being trained (for the Jacobian term)
    probe: torch.Tensor | None = None  # (P, 3) points along the paths at time `probe_time`
    probe_time: float = 0.0
    probe_dirs: torch.Tensor | None = None  # (P, 3) unit directions to differentiate along
    lipschitz: float = 1.0          # stretch rate the Jacobian term tolerates
    tags: np.ndarray | None = None  # (N,) part of each point (several spheres); `tree` is then
    sample_tags: np.ndarray | None = None  # built on `tagged(target, labels)`; (B,) part of each sample
    shape_rest: torch.Tensor | None = None  # (F, 3) rest squared edges over their mean (None: equilateral)
    point_normals: np.ndarray | None = None   # (N, 3) unit normals of the flowed surface at `points`
    sample_normals: np.ndarray | None = None  # (B, 3) unit normals of the target at `sample`
    target_normals: np.ndarray | None = None  # (M, 3) unit normals of the target at `target`
    outside_margin: float = 0.0     # how far beyond the target a point must be for `outside`
    target_backed: np.ndarray | None = None  # (M,) bool: surface behind each of `target` (None: all)
    nearest_target: np.ndarray | None = None  # (N,) index of each point's nearest in `target` (chamfer)
    inside_start: torch.Tensor | None = None  # (P, 3) probes inside the target flowed back to t = 0
    inside_share: float = 1.0       # the share of all probes those stand for (the unreached ones)
    spheres: tuple | None = None    # (centres (K, 3), radii (K,)) of the start spheres, tensors


TAG_GAP = 16.0  # parts lie this far apart in the 4th coordinate: never nearest to each other


def tagged(points, tags):
    """(N, 3) points and (N,) part labels -> (N, 4) with the label × TAG_GAP appended, so a
    KD-tree nearest search only ever matches points of the same part."""
    return np.concatenate([np.asarray(points, dtype=np.float64),
                           TAG_GAP * np.asarray(tags, dtype=np.float64)[:, None]], axis=1)


# With normals, a target sample pulls the nearest of its FACING_NEIGHBOURS nearest flowed
# points whose surface faces the sample's way (cosine of their normals above FACING_MIN),
# and none where none does: the inside of a thin wall (a mug's) no longer pulls the
# outside of the surface in, which left pits where the flow dipped into the wall. The
# other direction stays plain: each flowed point is pulled onto the nearest sample, so a
# doubled open sheet, whose normals all point one way, keeps both of its sides (pairing
# that direction by facing too flattened the open sheet's back: F@0.5% 0.707 -> 0.679).
FACING_MIN = -0.3
FACING_NEIGHBOURS = 8


def chamfer(batch):
    """Chamfer between the flowed points and the target, through KD-tree nearest
    neighbours (never an N×M matrix); gradients flow through the gathered differences.
    Mean Euclidean distances both ways, or squared ones with `batch.squared`; with
    `point_normals` and `sample_normals`, the target→model direction pairs facing
    surfaces only (FACING_MIN)."""
    x1, dev = batch.points, batch.points.device
    p, q = x1.detach().cpu().numpy(), batch.sample.detach().cpu().numpy()
    if batch.tags is not None:  # several parts: each point matches its own part only
        p, q = tagged(p, batch.tags), tagged(q, batch.sample_tags)
    _, to_target = nearest(batch.tree, p)
    batch.nearest_target = to_target
    keep = None
    if batch.point_normals is not None and batch.sample_normals is not None:
        to_points, keep = _facing_nearest(cKDTree(p), q, batch.sample_normals,
                                          batch.point_normals)
    else:
        _, to_points = nearest(p, q)
    forward = ((x1 - batch.target[torch.as_tensor(to_target, device=dev)]) ** 2).sum(1)
    backward = ((batch.sample - x1[torch.as_tensor(to_points, device=dev)]) ** 2).sum(1)
    if not batch.squared:
        forward, backward = (forward + 1e-8).sqrt(), (backward + 1e-8).sqrt()
    if keep is not None:
        backward = backward * torch.as_tensor(keep, dtype=backward.dtype, device=dev)
    return forward.mean() + backward.mean()


def _facing_nearest(tree, query, query_normals, normals):
    """For each query row (Q, 3 or 4 tagged), the nearest of its FACING_NEIGHBOURS nearest
    in `tree` whose normal (`normals`, one per tree point) faces the query's normal way:
    (index (Q,) int, found (Q,) bool; index is the nearest one where none was found)."""
    _, index = tree.query(query, k=1)
    found = np.einsum("qd,qd->q", normals[index], query_normals) > FACING_MIN
    k = min(FACING_NEIGHBOURS, tree.n)
    rest = np.flatnonzero(~found)  # most nearest points face the query: only the rest look further
    if len(rest) and k > 1:
        _, idx = tree.query(query[rest], k=k)
        idx = idx.reshape(len(rest), k)
        facing = np.einsum("qkd,qd->qk", normals[idx], query_normals[rest]) > FACING_MIN
        some = facing.any(axis=1)
        index[rest[some]] = idx[some, facing[some].argmax(axis=1)]
        found[rest] = some
    return index, found


def _beyond(batch):
    """(N,) how far each flowed point lies beyond its nearest target sample's tangent plane,
    along that sample's outward normal (an open sheet's: the side the point's surface faces),
    and (N, 3) the offset from that sample to the point."""
    x1, dev = batch.points, batch.points.device
    idx = batch.nearest_target
    target = batch.target.detach()[torch.as_tensor(idx, device=dev)].cpu().numpy()  # (N, 3) only
    normals = batch.target_normals[idx]
    if batch.target_backed is not None:  # an open sheet has two outsides: the point's own side
        facing = np.einsum("nd,nd->n", batch.point_normals, normals) >= 0
        normals = np.where((batch.target_backed[idx] | facing)[:, None], normals, -normals)
    offset = x1.detach().cpu().numpy() - target
    return np.einsum("nd,nd->n", offset, normals), offset


def outside(batch):
    """Push flowed points that lie outside the target inward along their own normals:
    mean over points of [beyond the margin] · (x · n), n the point's outward normal
    (constant). A point's nearest target sample and its normal say whether it lies outside
    (beyond the sample's tangent plane by more than `outside_margin`). Where the nearest
    sample is sideways (a membrane across a gap or a cavity's opening) the Chamfer term
    pulls the surface sideways, onto the walls; this one pushes it in, so a gap opens from
    its edge instead of closing with a wrinkled sheet. A sample with no surface behind it
    (`target_backed` False: an open sheet) has two outsides, and a point is beyond it on
    the side its own surface faces: both layers of a doubled sheet are pushed onto it, and
    the back layer, where it folds over the sheet, is no longer pushed further out.
    0 without normals."""
    if batch.point_normals is None or batch.target_normals is None or batch.nearest_target is None:
        return batch.points.new_zeros(())
    x1, dev = batch.points, batch.points.device
    beyond, _ = _beyond(batch)
    mask = beyond > batch.outside_margin
    if not mask.any():
        return x1.new_zeros(())
    push = torch.as_tensor(batch.point_normals * mask[:, None], dtype=x1.dtype, device=dev)
    return (x1 * push).sum() / len(x1)


# The beam term (issue 16, after Point2Mesh's beam gap). A membrane that hangs across a
# gap (a cloth between a table's legs, a web between a letter's strokes) lies beyond the
# walls beside it, and both other terms move it sideways or along its own normal by a
# fixed step, however deep the gap. A flowed point beyond the target (as `outside`) and at
# least BEAM_MIN_OFF from its nearest sample casts a ray inward along its own normal;
# where the ray meets the target within BEAM_REACH, the point is pulled towards that hit,
# the pull growing with the depth up to BEAM_CAP (a Huber loss): the cloth's lower edge
# rises towards the table top at every seed, where without it the legs came free at two
# seeds in five (README, "Held-out shapes", "The beam term at five seeds"). Points nearer the target
# than BEAM_MIN_OFF are left to the other terms: pulling those into gaps narrower than the
# field resolves (a 2% slot) crumpled the surface (slot F@0.5% 0.864 -> 0.836 without that
# floor). An open sheet (samples not backed) has no inside for a ray to cross, so its
# points cast none.
BEAM_STEP = 0.02     # a ray meets the target within this of a sample; its least stride
BEAM_REACH = 1.2     # rays end this far from their point (normalised units)
BEAM_STRIDE = 0.1    # the farthest a ray strides per round (the nearest-sample search radius)
BEAM_MIN_OFF = 0.04  # points nearer their nearest sample than this cast no ray
BEAM_CAP = 0.3       # the pull grows with the depth up to this, then stays


def beam(batch):
    """Pull flowed points that lie off the target, outside it, towards the first target
    sample their inward ray meets: mean over points of the Huber loss (quadratic up to
    BEAM_CAP) of |x - hit| (hit constant). 0 without normals."""
    if batch.point_normals is None or batch.target_normals is None or batch.nearest_target is None:
        return batch.points.new_zeros(())
    x1, dev = batch.points, batch.points.device
    beyond, offset = _beyond(batch)
    outside = (beyond > batch.outside_margin) & (np.linalg.norm(offset, axis=1) >= BEAM_MIN_OFF)
    if batch.target_backed is not None:  # an open sheet: no inside for a ray to cross
        outside &= batch.target_backed[batch.nearest_target]
    cand = np.flatnonzero(outside)
    if not len(cand):
        return x1.new_zeros(())
    origins = x1.detach().cpu().numpy()[cand].astype(np.float64)
    hit_at, hit = _first_hits(batch.tree, origins, -batch.point_normals[cand],
                              None if batch.tags is None else batch.tags[cand])
    some = hit_at >= 0
    if not some.any():
        return x1.new_zeros(())
    goal = batch.target.detach()[torch.as_tensor(hit[some], device=dev)]
    rows = torch.as_tensor(cand[some], device=dev)
    depth = ((x1[rows] - goal) ** 2).sum(1).add(1e-12).sqrt()
    pull = torch.where(depth <= BEAM_CAP, 0.5 * depth ** 2, BEAM_CAP * (depth - 0.5 * BEAM_CAP))
    return pull.sum() / len(x1)


def _first_hits(tree, origins, dirs, tags=None, start=2 * BEAM_STEP, reach=BEAM_REACH,
                rounds=32):
    """March rays origins + s·dirs (R, 3) (unit dirs, `tags` (R,) parts for a tagged
    `tree`), s from `start` to `reach`, against the target samples in `tree`: (s where a
    sample first lies within BEAM_STEP, -1 for none (R,) float; that sample's index (R,)).
    Each round strides by the distance to the nearest sample (at most BEAM_STRIDE) less
    BEAM_STEP, at least half of BEAM_STEP, so a ray cannot stride over the surface; after
    `rounds` rounds a ray that still grazes a surface counts as meeting nothing."""
    s = np.full(len(origins), float(start))
    hit_at = np.full(len(origins), -1.0)
    index = np.zeros(len(origins), dtype=np.int64)
    live = np.arange(len(origins))
    for _ in range(rounds):
        if not len(live):
            break
        q = origins[live] + s[live, None] * dirs[live]
        if tags is not None:
            q = tagged(q, tags[live])
        d, j = tree.query(q, distance_upper_bound=BEAM_STRIDE)
        d = np.minimum(d, BEAM_STRIDE)  # nothing within the stride: step by it
        hit = d < BEAM_STEP
        hit_at[live[hit]], index[live[hit]] = s[live[hit]], j[hit]
        s[live] += np.maximum(d - BEAM_STEP, 0.5 * BEAM_STEP)
        live = live[~hit & (s[live] <= reach)]
    return hit_at, index


# The inside term (issue 16). The flow is invertible, so a point of space lies inside the
# output exactly when the flow carries it back into a start sphere. Probes just inside
# the target (samples moved in along their normals) must come back inside a sphere: a
# tooth, a leg or a letter's stroke that the surface has not reached yet holds probes
# that come back outside, and the term pulls the field along their whole way back, so
# the surface is led into the branch instead of stopping at its root. A hinge on the
# probe's start-space radius: probes already inside pull nothing. Its mirror image,
# probes just outside the target that must come back outside, was measured and dropped:
# it hung a cloth between a table's legs (README, "Held-out shapes", "The inside term").
INSIDE_OFFSETS = (0.01, 0.02, 0.04)  # probes lie this far inside the target (normalised units)
INSIDE_CLEAR = 0.8     # ... and keep at least this share of it from every other sample
INSIDE_SHARE = 0.25    # unreached probes flowed back per iteration, at most, as a share of the points
INSIDE_POOL = 20_000   # target samples the probes are made from, once per fit


def inside_probes(unit, normals, backed, rng):
    """Probe points just inside the target: (P, 3) float64, normalised space, from up to
    INSIDE_POOL of `unit` (M, 3) moved against their unit outward `normals` (M, 3) by each
    of INSIDE_OFFSETS, kept where no sample is nearer than INSIDE_CLEAR of the offset (past
    a thin wall's far side). Samples not `backed` (M,) bool, an open sheet's, give none: a
    sheet has no inside."""
    pick = rng.choice(len(unit), min(len(unit), INSIDE_POOL), replace=False)
    if backed is not None:
        pick = pick[backed[pick]]
    tree = cKDTree(unit)
    kept = []
    for offset in INSIDE_OFFSETS:
        q = unit[pick] - offset * normals[pick]
        dist, _ = tree.query(q)
        kept.append(q[dist >= INSIDE_CLEAR * offset])
    return np.concatenate(kept)


def start_radius(points, centres, radii):
    """(P,) distance of each of `points` (P, 3) from its nearest start sphere's centre
    (`centres` (K, 3)), over that sphere's radius (`radii` (K,)): above 1 outside them all."""
    return ((points[:, None, :] - centres[None]).norm(dim=2) / radii[None]).min(dim=1).values


def inside(batch):
    """Probes inside the target that the flow carries back outside every start sphere:
    `inside_share` × mean over the probes of relu(r - 1), r = start_radius. 0 without probes."""
    start = batch.inside_start
    if start is None or batch.spheres is None:
        return batch.points.new_zeros(())
    return batch.inside_share * F.relu(start_radius(start, *batch.spheres) - 1.0).mean()


def shape(batch):
    """Triangle shape of the flowed icosphere: mean over triangles of var(squared edge
    lengths) / mean(squared edge lengths)², 0 for equilateral triangles, large for slivers.
    With `shape_rest` (a mesh source), the same measure of the change from each triangle's
    own rest shape."""
    verts, faces = batch.points[-batch.shape_count:], batch.shape_faces
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    sq = torch.stack([((a - b) ** 2).sum(1), ((b - c) ** 2).sum(1), ((c - a) ** 2).sum(1)], dim=1)
    if batch.shape_rest is not None:  # a mesh source: its own triangles' shapes are the rest
        ratio = sq / sq.mean(dim=1, keepdim=True).detach().clamp_min(1e-12)
        return ((ratio - batch.shape_rest) ** 2).sum(1).mean() / 2
    return (sq.var(dim=1) / sq.mean(dim=1).pow(2).detach().clamp_min(1e-12)).mean()


def kinetic(batch):
    """Kinetic energy ∫ |f|² dt of the flow, integrated as an extra ODE state."""
    return batch.energy


def jacobian(batch, eps=1e-2):
    """Stretch rate of the field above `lipschitz`: mean relu(|∂f/∂x · d| - L)² over probe
    points on the paths, by a finite difference along random unit directions d.

    One explicit step x -> x + h·f(x) is injective when h·Lip(f) < 1, so a field whose
    stretch rate stays bounded gives an output map that does not fold, at any step count."""
    x, d, t = batch.probe, batch.probe_dirs, batch.probe_time
    both = batch.field(t, torch.cat([x + eps * d, x]))  # one evaluation for both ends
    rate = (both[:len(x)] - both[len(x):]) / eps
    return F.relu(rate.norm(dim=1) - batch.lipschitz).pow(2).mean()


# (term, name of its FitSettings weight; None means weight 1), in the order they are added.
TERMS = ((chamfer, None), (outside, "outside_weight"), (beam, "beam_weight"),
         (inside, "inside_weight"),
         (shape, "shape_weight"), (kinetic, "kinetic_weight"), (jacobian, "jacobian_weight"))


def total(batch, settings):
    """Σ weight × term(batch) over TERMS, skipping terms whose weight is zero."""
    loss = None
    for term, weight_name in TERMS:
        weight = 1.0 if weight_name is None else getattr(settings, weight_name)
        if not weight:
            continue
        value = term(batch) if weight_name is None else weight * term(batch)
        loss = value if loss is None else loss + value
    return loss
