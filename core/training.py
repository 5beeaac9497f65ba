"""The training loop: `fit(target_points, settings)` -> FittedFlow.

The loss terms live in losses.py, the field in field.py, the solvers in solvers.py and
the settings in settings.py; this module only runs the optimisation.
"""
import contextlib
import dataclasses
import os
import time

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from scipy.spatial import cKDTree
from torch import nn

from . import losses, storage
from .field import VelocityField
from .fitted_flow import FittedFlow
from .normalize import normalization
from .optim import OneCycleAdam
from .parts import sphere_set
from .source import MeshSource
from .sampling import triangle_areas
from .snap import NORMALS_MESSAGE, unit_normals, vertex_normals
from .settings import MIN_TARGET_POINTS, SOFT_MAX_LEARNING_RATE, FitSettings
from .solvers import integrate


class Cancelled(Exception):
    """Raised by `fit` when its cancel event is set."""


# a fit that diverges at a learning rate within the slider's range is tried again at half
# the rate, this many times (the fit is chaotic: a needle may blow up at one rate and not
# at half of it); beyond that range it stops at once with DIVERGED
DIVERGENCE_RETRIES = 2
# a source mesh flows all its vertices each iteration up to this many times `points`
VERTEX_BUDGET = 2
STRETCH_REFRESH = 25  # iterations between updates of the stretch sampler's flowed areas
INSIDE_STREAM = 1     # the inside term's random stream, beside the fit's own (seed)
INSIDE_REFRESH = 25   # iterations between the inside term's checks of which probes are unreached
INSIDE_CHECK = 4096   # probes each check flows back


def fit(target_points, settings=None, progress=None, cancel=None, init=None, snapshot=None,
        snapshot_every=25, labels=None, source=None, normals=None, backed=None):
    """Fit a flow that carries the unit sphere, or a `source` mesh, onto `target_points`
    (see `_fit_once`);
    a fit that diverges is tried again at half the learning rate, DIVERGENCE_RETRIES
    times, and the flow records the rate that worked (flow.settings.learning_rate)."""
    settings = (settings or FitSettings()).validate()
    with _fit_threads():
        for attempt in range(DIVERGENCE_RETRIES + 1):
            try:
                return _fit_once(target_points, settings, progress, cancel, init, snapshot,
                                 snapshot_every, labels, source, normals, backed)
            except Diverged:
                if attempt == DIVERGENCE_RETRIES or settings.learning_rate > SOFT_MAX_LEARNING_RATE:
                    raise
                settings = dataclasses.replace(settings, learning_rate=settings.learning_rate / 2)
    raise AssertionError("unreachable")


# torch threads of the training loop: its tensors are small (1,024 points × 64 channels),
# so a second OpenMP thread costs more in hand-offs than it saves, and far more beside
# another busy process (bench: cow, 100 iterations, 1 thread 8.6 s, 2 threads 12.9 s on
# this 2-core machine under load; issue 19). OMP_NUM_THREADS, when set, wins.
FIT_THREADS = 1


@contextlib.contextmanager
def _fit_threads():
    """torch at FIT_THREADS intra-op threads (on this thread) for the block, then as before."""
    if os.environ.get("OMP_NUM_THREADS"):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(FIT_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _fit_once(target_points, settings=None, progress=None, cancel=None, init=None,
              snapshot=None, snapshot_every=25, labels=None, source=None, normals=None,
              backed=None):
    """Fit a flow that carries the unit sphere (or a `source` mesh) onto `target_points`.

    target_points: (M, 3) float array, any space (a dense area-weighted surface sample).
    progress: optional callable(iteration, loss) called every iteration (1-based, this run).
    cancel: optional threading.Event; when set, raises `Cancelled` at the next iteration.
    init: optional FittedFlow to continue from (its field, normalisation and width).
    snapshot: optional callable(model) called every `snapshot_every` iterations with the
    model being trained (for live previews; evaluate it under torch.no_grad()).
    labels: optional (M,) int piece of each target point (parts.surface_parts); with
    settings.parts "separate" every piece gets its own sphere (parts.sphere_set) and its
    points are matched only to that piece's samples. None: one sphere for everything.
    source: optional (verts (V, 3), faces (F, 3) triangles), same space as the target: the
    flow starts from this mesh instead of the sphere (Morph Onto). It is put into the unit
    ball by its own normalisation (FittedFlow.start_matrix), has no warm start and no
    parts, and its own triangles feed the shape term (their shapes at rest).
    normals: optional (M, 3) target normals at the points (same space, any length): stored
    with the samples the output snaps onto (snap.py), so the snap keeps to the side of the
    surface a vertex faces; a fit from the sphere also trains with them (the Chamfer with
    normals and the outside term, losses.py).
    backed: optional (M,) bool, whether the target has surface behind each point (a ray
    from it into the target meets the target again; False on an open sheet). Beyond a
    point that is not, the outside term counts either side as outside (losses.outside).
    None: every point is backed.
    Returns a FittedFlow. Deterministic for a fixed settings.seed on one machine.

    Each iteration flows a batch of sphere points: a randomly rotated level-3 icosphere
    (its triangles feed the shape regulariser) plus points drawn where the flow stretches
    the sphere most, so thin parts get samples. They are integrated with `train_steps`
    solver steps whose inner time nodes move at random each iteration (`time_jitter`),
    so the field learns a true ODE that finer output grids follow instead of one fixed
    step map. The loss (losses.py) is the Chamfer distance to the target plus small shape,
    kinetic-energy and Jacobian terms. The first `warm_start` iterations regress the
    sphere onto the target's radial profile instead. A fit whose loss or points blow up
    stops with a ValueError.
    """
    settings = (settings or FitSettings()).validate()
    target = np.asarray(target_points, dtype=np.float64)
    if target.ndim != 2 or target.shape[1] != 3 or len(target) < MIN_TARGET_POINTS:
        raise ValueError(f"Target points must be an (M, 3) array with at least {MIN_TARGET_POINTS} points.")
    if not np.isfinite(target).all():
        raise ValueError("Target points contain NaN or infinite coordinates.")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    device = torch.device(settings.device)

    labels = _check_labels(labels, len(target))
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float64)
        if normals.shape != target.shape:
            raise ValueError(NORMALS_MESSAGE)
        normals = unit_normals(normals)
    if backed is not None:
        backed = np.asarray(backed)
        if backed.shape != (len(target),) or backed.dtype != np.bool_:
            raise ValueError(BACKED_MESSAGE)
    if init is not None:
        model = init.copy()
        # a continued flow keeps its normalisation matrix and spheres, so its settings say so
        settings = dataclasses.replace(settings, normalization=init.settings.normalization,
                                       parts=init.settings.parts)
        unit = model.to_normalized(target)
        labels = _continued_labels(model.start, unit, labels)
    else:
        field = VelocityField(settings.width, settings.depth, settings.grid_sizes,
                              settings.grid_channels)
        model = FittedFlow(field, normalization(target, settings.normalization), settings)
        unit = model.to_normalized(target)
        if source is not None:
            model.start, model.start_matrix = _mesh_start(source, settings, rng)
        labels = labels if settings.parts == "separate" and source is None else None
        if labels is not None:
            model.start, labels = sphere_set(unit, labels)
            labels = labels if model.start.count > 1 else None
    model.settings = dataclasses.replace(settings)  # the model owns its copy
    field = model.field.to(device).train()

    if len(unit) > settings.target_samples:
        keep = rng.choice(len(unit), settings.target_samples, replace=False)
        unit = unit[keep]
        labels = None if labels is None else labels[keep]
        normals = None if normals is None else normals[keep]
        backed = None if backed is None else backed[keep]
    unit_t = torch.as_tensor(unit, dtype=torch.float32, device=device)
    model.surface_samples = unit if settings.snap else None  # what every output snaps onto
    normals_unit = None if normals is None else model.normals_to_normalized(normals)
    if settings.snap and normals_unit is not None:
        model.surface_normals = normals_unit
    tree = cKDTree(unit if labels is None else losses.tagged(unit, labels))

    grids = list(field.grids.parameters())
    rest = [p for name, p in field.named_parameters() if not name.startswith("grids.")]
    groups = [(rest, settings.learning_rate), (grids, settings.learning_rate * settings.grid_lr_scale)]
    groups = [(params, lr) for params, lr in groups if params]
    # torch.optim.Adam on OneCycleLR, bit for bit, without torch.optim's first-use import
    # of torch._dynamo (about 1 s of the first fit in a process)
    opt = OneCycleAdam(groups, settings.iterations, pct_start=0.15, div_factor=10.0,
                       final_div_factor=100.0)
    warm = settings.warm_start if init is None and not model.from_mesh else 0
    radial = _radial_profile(unit, labels, model.start) if warm else None
    spheres_t = [] if model.from_mesh else [
        torch.as_tensor(a, dtype=torch.float32, device=device)
        for a in (model.start.centres, model.start.radii)]
    sampler = (_MeshSampler if model.from_mesh else _StartSampler)(settings, model.start, rng, device)
    probes = None  # the inside term's (losses.inside)
    if settings.inside_weight and normals_unit is not None and not model.from_mesh:
        probes = _InsideProbes(unit, normals_unit, backed, settings, spheres_t)
    start = time.perf_counter()
    history = list(model.history)
    for it in range(settings.iterations):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The fit was cancelled.")
        times = _training_grid(settings, rng, device)
        if it < warm:
            x0, part = sampler.uniform(settings.points)
            x1 = integrate(field, x0, times, settings.method, None, settings.adjoint)[-1]
            assert radial is not None  # made whenever there are warm iterations
            goal = torch.as_tensor(radial(x0.cpu().numpy(), part), dtype=torch.float32, device=device)
            centre, radius = spheres_t[0][part], spheres_t[1][part][:, None]
            loss = ((x1 - (centre + goal[:, None] * ((x0 - centre) / radius))) ** 2).sum(1).mean()
        else:
            # the flowed areas change slowly: every 25 iterations (issue 19, was 10)
            x0 = sampler.batch(field, refresh=(it - warm) % STRETCH_REFRESH == 0)
            n = len(x0)
            # unreached probes of the inside term flow back in the same field calls
            back = None if probes is None else probes.draw(field, (it - warm) % INSIDE_REFRESH == 0)
            state = x0 if back is None else torch.cat([x0, back])
            if settings.kinetic_weight:  # the energy rides along as a 4th state
                state = torch.cat([state, torch.zeros(len(state), 1, device=device)], dim=1)
            path = integrate(_TrainingDynamics(field, n, settings.kinetic_weight > 0), state, times,
                             settings.method, None, settings.adjoint)
            path_back = None if back is None else path[-1, n:, :3]  # at t = 0
            path = path[:, :n]
            end = path[-1]
            x1 = sampler.surface(end[:, :3])
            pick = rng.integers(0, len(unit_t), settings.target_batch)
            sample = unit_t[torch.as_tensor(pick, device=device)]
            batch = losses.Batch(x1, unit_t, tree, sample, settings.loss == "squared",
                                 sampler.shape_faces, sampler.n_shape,
                                 end[:, 3].mean() if settings.kinetic_weight else None,
                                 shape_rest=sampler.shape_rest)
            if labels is not None:
                batch.tags, batch.sample_tags = sampler.part, labels[pick]
            if normals_unit is not None and not model.from_mesh and sampler.n_shape:
                batch.point_normals = sampler.normals(x0, x1)
                batch.sample_normals = normals_unit[pick]
                batch.target_normals = normals_unit
                batch.target_backed = backed
                batch.outside_margin = settings.outside_margin
            if back is not None:
                probes.fill(batch, path_back)
            if settings.jacobian_weight:
                _add_probes(batch, field, path[:, :, :3], times, settings, rng, device)
            loss = losses.total(batch, settings)
        _check_divergence(loss, x1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        value = float(loss.detach())
        history.append(value)
        if progress is not None:
            progress(it + 1, value)
        if snapshot is not None and (it + 1) % snapshot_every == 0 and it + 1 < settings.iterations:
            snapshot(model)
            field.train()
    model.field = storage.round_to_stored(field.cpu().eval())
    model.history = history
    model.seconds += time.perf_counter() - start
    model.iterations += settings.iterations
    return model


BACKED_MESSAGE = "Backed must be an (M,) array of booleans, one per target point."
DIVERGED = ("The fit diverged (its loss or points blew up): lower the learning rate, "
            "or keep the default settings.")


class Diverged(ValueError):
    """The loss or the points blew up (the message is DIVERGED)."""


def _check_divergence(loss, points, limit=20.0):
    """Diverged when the loss is not finite or flowed points left far beyond the unit ball."""
    if not torch.isfinite(loss) or float(points.detach().abs().max()) > limit:
        raise Diverged(DIVERGED)


def _training_grid(settings, rng, device):
    """Time nodes of one training iteration: `train_steps` steps from 0 to 1 whose inner
    nodes move by up to ±time_jitter of a step, a fresh draw every iteration."""
    n = settings.train_steps
    inner = (np.arange(1, n) + rng.uniform(-settings.time_jitter, settings.time_jitter, n - 1)) / n
    return torch.tensor([0.0, *inner, 1.0], dtype=torch.float32, device=device)


@torch.no_grad()
def _probe_points(states, times, settings, rng, device):
    """`jacobian_points` of this batch's paths at one random time: (points, time).

    The points lie between the training solve's own states (T, N, 3) at `times`, linearly
    interpolated at the drawn time: no second solve (issue 19: it was 5% of the fit)."""
    n = min(settings.jacobian_points, states.shape[1])
    pick = torch.as_tensor(rng.choice(states.shape[1], n, replace=False), device=device)
    t = float(rng.uniform(0.0, 1.0))
    nodes = times.tolist()
    k = min(max(sum(1 for node in nodes[1:-1] if node <= t), 0), len(nodes) - 2)
    w = (t - nodes[k]) / max(nodes[k + 1] - nodes[k], 1e-12)
    x = torch.lerp(states[k, pick], states[k + 1, pick], w)
    return x.detach(), t


def _add_probes(batch, field, states, times, settings, rng, device):
    """Fill the Jacobian term's probe points, time and directions into `batch`."""
    batch.probe, batch.probe_time = _probe_points(states, times, settings, rng, device)
    d = torch.as_tensor(rng.standard_normal((len(batch.probe), 3)), dtype=torch.float32, device=device)
    batch.probe_dirs = d / d.norm(dim=1, keepdim=True)
    batch.field, batch.lipschitz = field, settings.lipschitz


class _InsideProbes:
    """The inside term's probes (losses.inside_probes, (P, 3) normalised) and which of them
    the flow leaves unreached, drawn from a generator of their own, so a target without
    probes (an open sheet) trains exactly as with the term off.

    On a refresh, INSIDE_CHECK probes are flowed back without gradients; those that come
    back outside every start sphere are the unreached ones. Each iteration flows up to
    INSIDE_SHARE × points of them back with gradients, and the term is scaled by the
    unreached share, so its expectation is that over all probes, while a shape the surface
    already fills pays for little more than the checks."""

    def __init__(self, unit, normals, backed, settings, spheres):
        self.settings, self.spheres = settings, tuple(spheres)
        self.rng = np.random.default_rng([settings.seed, INSIDE_STREAM])
        self.probes = torch.as_tensor(losses.inside_probes(unit, normals, backed, self.rng),
                                      dtype=torch.float32, device=spheres[0].device)
        self.unreached, self.share = self.probes[:0], 0.0

    @torch.no_grad()
    def _refresh(self, field):
        s = self.settings
        pick = torch.as_tensor(self.rng.choice(len(self.probes), min(INSIDE_CHECK, len(self.probes)),
                                               replace=False), device=self.probes.device)
        ends = torch.tensor([1.0, 0.0], device=self.probes.device)
        back = integrate(field, self.probes[pick], ends, s.method, s.train_steps)[-1]
        out = losses.start_radius(back, *self.spheres) > 1.0
        self.unreached, self.share = self.probes[pick][out], float(out.float().mean())

    def draw(self, field, refresh):
        """Unreached probes to flow back this iteration, (n, 3) at t = 1, or None (none left
        unreached). A refresh first checks which probes are unreached."""
        if not len(self.probes):
            return None
        if refresh:
            self._refresh(field)
        if not len(self.unreached):
            return None
        n = min(max(int(losses.INSIDE_SHARE * self.settings.points), 1), len(self.unreached))
        pick = torch.as_tensor(self.rng.integers(0, len(self.unreached), n), device=self.probes.device)
        return self.unreached[pick]

    def fill(self, batch, start):
        """Put the drawn probes flowed back to `start` (n, 3), t = 0, into `batch`."""
        batch.inside_start, batch.inside_share, batch.spheres = start, self.share, self.spheres


class _TrainingDynamics(nn.Module):
    """The state one training iteration integrates from t = 0 to 1: its first `n` rows are
    sphere points, dx/dt = f(x, t); the rest are the inside term's probes, flowed back from
    the target (t = 1) to the start (t = 0), dp/dt = -f(p, 1 - t), in the same field calls
    (one call per stage, issue 19). With `kinetic`, a 4th column carries ∫ |f|² dt."""

    def __init__(self, field, n, kinetic):
        super().__init__()
        self.field, self.n, self.kinetic = field, int(n), bool(kinetic)

    def forward(self, t, state):
        x, n = state[:, :3], self.n
        if len(state) > n:
            t = torch.cat([t.expand(n, 1), (1.0 - t).expand(len(state) - n, 1)])
            v = self.field(t, x)
            v = torch.cat([v[:n], -v[n:]])
        else:
            v = self.field(t, x)
        if not self.kinetic:
            return v
        return torch.cat([v, (v * v).sum(1, keepdim=True)], dim=1)


PARTS_MISMATCH = ("The target now has {now} separate part(s), but this morph was fitted with "
                  "{then}: fit it anew (or set Parts to One).")


def _check_labels(labels, count):
    """(M,) int64 part labels, or None."""
    if labels is None:
        return None
    labels = np.asarray(labels).reshape(-1)
    if len(labels) != count or labels.dtype.kind not in "iu" or (len(labels) and labels.min() < 0):
        raise ValueError("Part labels must be one whole number of at least 0 per target point.")
    return labels.astype(np.int64)


def _continued_labels(spheres, unit, labels):
    """Labels for continuing a flow with `spheres`: None for one sphere; else the pieces
    of the target (merged as the first fit merged them) must be as many as the spheres,
    and each is paired with the sphere whose centre is nearest its own (ValueError)."""
    if spheres.count == 1:
        return None
    if labels is not None:
        _, labels = sphere_set(unit, labels)
    now = 1 if labels is None else int(labels.max()) + 1
    if now != spheres.count:
        raise ValueError(PARTS_MISMATCH.format(now=now, then=spheres.count))
    centres = np.stack([unit[labels == k].mean(axis=0) for k in range(now)])
    cost = np.linalg.norm(centres[:, None] - spheres.centres[None], axis=2)
    rows, cols = linear_sum_assignment(cost)
    pairing = np.empty(now, dtype=np.int64)
    pairing[rows] = cols
    return pairing[labels]


def _mesh_start(source, settings, rng):
    """(MeshSource in its own unit ball, its (4, 4) normalisation matrix) for a source mesh
    (verts (V, 3), faces (F, 3)), target space. The vertices are rounded as the flow
    stores them, so a reloaded flow starts from exactly the same surface."""
    verts, faces = source
    verts = np.asarray(verts, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64)
    if verts.ndim != 2 or verts.shape[1] != 3 or not np.isfinite(verts).all():
        raise ValueError("The source mesh's vertices must be an (V, 3) array of finite coordinates.")
    points = MeshSource(verts, faces).uniform(settings.target_samples // 4, rng)[0]
    matrix = normalization(points, settings.normalization)
    m = matrix
    unit = (verts - m[:3, 3]) @ np.linalg.inv(m[:3, :3]).T
    return MeshSource(unit.astype(np.float32).astype(np.float64), faces), matrix


class _StartSampler:
    """Points on the t=0 spheres (`start`, parts.SphereSet) for one iteration: free
    samples plus the shape term's triangles (about 2/3 of the batch: a rotated level-3
    icosphere for one sphere of 1024 points). A mesh start has `_MeshSampler`.

    Free samples are drawn by the flowed area of the start's triangles (`area_mesh`, with
    probability `stretch_sampling`, else uniformly by `start.uniform`), so stretched regions
    get points. `part` (N,) says which sphere each point of the last batch is on.
    """

    def __init__(self, settings, start, rng, device):
        self.settings, self.start, self.rng, self.device = settings, start, rng, device
        self.budget = 0.65 * settings.points
        self.shape_faces, self.shape_rest, self.n_shape = None, None, 0
        if settings.shape_weight:
            verts, faces, _, rest = start.shape_batch(self.budget, np.random.default_rng(0))
            self.n_shape = len(verts)
            self.shape_faces = torch.as_tensor(faces, device=device)
        self.n_free = max(settings.points - self.n_shape, 16)
        self.area_verts, self.area_faces, self.area_face_part = start.area_mesh(rng)
        self.area_p = None
        self.part = None

    def uniform(self, n):
        """(n, 3) points uniform on the start surface and their parts (n,)."""
        x, part = self.start.uniform(n, self.rng)
        return torch.as_tensor(x, dtype=torch.float32, device=self.device), part

    @torch.no_grad()
    def _refresh_areas(self, field):
        s = self.settings
        verts = torch.as_tensor(self.area_verts, dtype=torch.float32, device=self.device)
        moved = integrate(field, verts, torch.tensor([0.0, 1.0], device=self.device), s.method,
                          s.train_steps)[-1].cpu().numpy().astype(np.float64)
        f = self.area_faces
        area = np.linalg.norm(np.cross(moved[f[:, 1]] - moved[f[:, 0]], moved[f[:, 2]] - moved[f[:, 0]]),
                              axis=1)
        self.area_p = area / area.sum()

    def _stretched(self, n):
        tri = self.rng.choice(len(self.area_faces), n, p=self.area_p)
        f = self.area_faces[tri]
        r1, r2 = np.sqrt(self.rng.random(n)), self.rng.random(n)
        v = self.area_verts
        x = ((1 - r1)[:, None] * v[f[:, 0]] + (r1 * (1 - r2))[:, None] * v[f[:, 1]]
             + (r1 * r2)[:, None] * v[f[:, 2]])
        part = self.area_face_part[tri]
        x = self.start.project(x, part)
        return torch.as_tensor(x, dtype=torch.float32, device=self.device), part

    def surface(self, x1):
        """The flowed batch as the loss sees it: the points themselves."""
        return x1

    def normals(self, x0, x1):
        """(N, 3) unit normals of the flowed surface at the batch `x1` (N, 3), from `x0`
        (N, 3) on the spheres: those of the flowed shape-term icosphere (the batch's last
        n_shape points) at the vertex nearest each point on the spheres."""
        n = self.n_shape
        start, flowed = x0.detach().cpu().numpy(), x1.detach().cpu().numpy()
        faces = self.shape_faces.cpu().numpy()
        normals = vertex_normals(flowed[-n:].astype(np.float64), faces)
        _, nearest_vertex = cKDTree(start[-n:]).query(start)
        return normals[nearest_vertex]

    def batch(self, field, refresh):
        """(points, 3) start points: free samples first, the shape term's triangles last
        (their rest shapes, or None, in `shape_rest`)."""
        n_stretch = int(round(self.settings.stretch_sampling * self.n_free))
        parts, labels = [], []
        if n_stretch:
            if refresh or self.area_p is None:
                self._refresh_areas(field)
            x, part = self._stretched(n_stretch)
            parts.append(x), labels.append(part)
        if self.n_free - n_stretch:
            x, part = self.uniform(self.n_free - n_stretch)
            parts.append(x), labels.append(part)
        if self.n_shape:
            verts, _, part, rest = self.start.shape_batch(self.budget, self.rng)
            parts.append(torch.as_tensor(verts, dtype=torch.float32, device=self.device))
            labels.append(part)
            self.shape_rest = None if rest is None else torch.as_tensor(
                rest, dtype=torch.float32, device=self.device)
        self.part = np.concatenate(labels)
        return torch.cat(parts)


class _MeshSampler:
    """A source mesh's batch for one iteration: its vertices (all of them up to
    VERTEX_BUDGET × points; else those of triangles drawn by area), flowed, and
    `surface(x1)`: points on the flowed *triangles* (the mesh the output will be, not the
    flowed surface between its vertices, which a coarse mesh does not follow), drawn by
    flowed area with probability `stretch_sampling` (else by source area), followed by the
    vertices, whose triangles feed the shape term at their rest shapes."""

    def __init__(self, settings, start, rng, device):
        self.settings, self.start, self.rng, self.device = settings, start, rng, device
        self.budget = VERTEX_BUDGET * settings.points
        self.shape_faces, self.shape_rest, self.n_shape, self.part = None, None, 0, None
        self._faces = np.zeros((0, 3), dtype=np.int64)  # this iteration's triangles, local indices
        self._areas = np.zeros(0)  # and their areas at t=0
        self._whole = None  # the vertices of a source used whole, set up once

    def batch(self, field, refresh):
        """(n, 3) vertices at t=0 for this iteration (its triangles are kept for `surface`);
        a whole source is set up once, a large one draws its triangles every iteration."""
        start = self.start
        if len(start.verts) <= self.budget:
            if self._whole is None:
                self._whole = self._use(start.faces)
            return self._whole
        pick = self.rng.choice(len(start.faces), max(self.budget // 3, 1), p=start.areas / start.areas.sum())
        return self._use(start.faces[pick])

    def _use(self, faces):
        """Make `faces` (F, 3) this iteration's triangles: (n, 3) tensor of their vertices."""
        start = self.start
        used, local = np.unique(faces, return_inverse=True)
        self._faces = local.reshape(-1, 3)
        self._areas = triangle_areas(start.verts, faces)
        self.n_shape = len(used)
        if self.settings.shape_weight:
            self.shape_faces = torch.as_tensor(self._faces, device=self.device)
            self.shape_rest = torch.as_tensor(start.rest_shapes(faces), dtype=torch.float32,
                                              device=self.device)
        self.part = np.zeros(self.settings.points + len(used), dtype=np.int64)
        return torch.as_tensor(start.verts[used], dtype=torch.float32, device=self.device)

    def surface(self, x1):
        """(points + n, 3): `points` samples on the flowed triangles, then the vertices `x1`."""
        f, n = self._faces, self.settings.points
        a, b, c = x1[f[:, 0]], x1[f[:, 1]], x1[f[:, 2]]
        with torch.no_grad():
            flowed = torch.linalg.norm(torch.cross(b - a, c - a, dim=1), dim=1).double().cpu().numpy()
        share = self.settings.stretch_sampling
        p = (share * flowed / max(flowed.sum(), 1e-300)
             + (1 - share) * self._areas / max(self._areas.sum(), 1e-300))
        tri = torch.as_tensor(self.rng.choice(len(f), n, p=p / p.sum()), device=self.device)
        r1 = torch.as_tensor(np.sqrt(self.rng.random(n)), dtype=x1.dtype, device=self.device)[:, None]
        r2 = torch.as_tensor(self.rng.random(n), dtype=x1.dtype, device=self.device)[:, None]
        samples = (1 - r1) * a[tri] + r1 * (1 - r2) * b[tri] + r1 * r2 * c[tri]
        return torch.cat([samples, x1])


def _radial_profile(unit, labels, spheres, k=16):
    """Function (x0 (N, 3) on the spheres, part (N,)) -> (N,) the outer radius of each
    part's target samples about its sphere's centre, along x0's direction from there."""
    labels = np.zeros(len(unit), np.int64) if labels is None else labels
    profiles = []
    for j in range(spheres.count):
        rel = unit[labels == j] - spheres.centres[j]
        radius = np.linalg.norm(rel, axis=1)
        profiles.append((cKDTree(rel / np.maximum(radius, 1e-12)[:, None]), radius))

    def profile(x0, part):
        out = np.empty(len(x0))
        for j, (tree, radius) in enumerate(profiles):
            mine = part == j
            if mine.any():
                d = (x0[mine] - spheres.centres[j]) / spheres.radii[j]
                _, idx = tree.query(d, k=min(k, len(radius)))
                out[mine] = radius[idx.reshape(len(d), -1)].max(axis=1)
        return out
    return profile
