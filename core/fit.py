"""The training loop: `fit(target_points, settings)` -> FittedFlow.

The loss terms live in losses.py, the field in field.py, the solvers in solvers.py and
the settings in settings.py; this module only runs the optimisation.
"""
import dataclasses
import time

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from . import losses, storage
from .field import VelocityField
from .fitted_flow import FittedFlow
from .icosphere import icosphere
from .normalize import normalization
from .settings import MIN_TARGET_POINTS, FitSettings
from .solvers import integrate


class Cancelled(Exception):
    """Raised by `fit` when its cancel event is set."""


def fit(target_points, settings=None, progress=None, cancel=None, init=None, snapshot=None,
        snapshot_every=25):
    """Fit a flow that carries the unit sphere onto `target_points`.

    target_points: (M, 3) float array, any space (a dense area-weighted surface sample).
    progress: optional callable(iteration, loss) called every iteration (1-based, this run).
    cancel: optional threading.Event; when set, raises `Cancelled` at the next iteration.
    init: optional FittedFlow to continue from (its field, normalisation and width).
    snapshot: optional callable(model) called every `snapshot_every` iterations with the
    model being trained (for live previews; evaluate it under torch.no_grad()).
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

    if init is not None:
        model = init.copy()
        # a continued flow keeps its normalisation matrix, so its settings say that one
        settings = dataclasses.replace(settings, normalization=init.settings.normalization)
    else:
        field = VelocityField(settings.width, settings.depth, settings.grid_sizes,
                              settings.grid_channels)
        model = FittedFlow(field, normalization(target, settings.normalization), settings)
    model.settings = dataclasses.replace(settings)  # the model owns its copy
    field = model.field.to(device).train()

    unit = model.to_normalized(target)
    if len(unit) > settings.target_samples:
        unit = unit[rng.choice(len(unit), settings.target_samples, replace=False)]
    unit_t = torch.as_tensor(unit, dtype=torch.float32, device=device)
    tree = cKDTree(unit)

    grids = list(field.grids.parameters())
    rest = [p for name, p in field.named_parameters() if not name.startswith("grids.")]
    groups = [(rest, settings.learning_rate), (grids, settings.learning_rate * settings.grid_lr_scale)]
    groups = [(params, lr) for params, lr in groups if params]
    opt = torch.optim.Adam([{"params": params, "lr": lr} for params, lr in groups])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[lr for _, lr in groups], total_steps=settings.iterations, pct_start=0.15,
        div_factor=10.0, final_div_factor=100.0)
    warm = settings.warm_start if init is None else 0
    radial = _radial_profile(unit) if warm else None
    sampler = _SphereSampler(settings, rng, device)
    kinetic = _KineticField(field)
    start = time.perf_counter()
    history = list(model.history)
    for it in range(settings.iterations):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The fit was cancelled.")
        times = _training_grid(settings, rng, device)
        if it < warm:
            x0 = sampler.uniform(settings.points)
            x1 = integrate(field, x0, times, settings.method, None, settings.adjoint)[-1]
            goal = torch.as_tensor(radial(x0.cpu().numpy()), dtype=torch.float32, device=device)
            loss = ((x1 - goal[:, None] * x0) ** 2).sum(1).mean()
        else:
            x0 = sampler.batch(field, refresh=(it - warm) % 10 == 0)
            state = torch.cat([x0, torch.zeros(len(x0), 1, device=device)], dim=1)
            end = integrate(kinetic, state, times, settings.method, None, settings.adjoint)[-1]
            x1 = end[:, :3]
            sample = unit_t[torch.as_tensor(rng.integers(0, len(unit_t), settings.target_batch), device=device)]
            batch = losses.Batch(x1, unit_t, tree, sample, settings.loss == "squared",
                                 sampler.shape_faces, sampler.n_shape, end[:, 3].mean())
            if settings.jacobian_weight:
                _add_probes(batch, field, x0, settings, rng, device)
            loss = losses.total(batch, settings)
        _check_divergence(loss, x1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
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


DIVERGED = ("The fit diverged (its loss or points blew up): lower the learning rate, "
            "or keep the default settings.")


def _check_divergence(loss, points, limit=20.0):
    """ValueError when the loss is not finite or flowed points left far beyond the unit ball."""
    if not torch.isfinite(loss) or float(points.detach().abs().max()) > limit:
        raise ValueError(DIVERGED)


def _training_grid(settings, rng, device):
    """Time nodes of one training iteration: `train_steps` steps from 0 to 1 whose inner
    nodes move by up to ±time_jitter of a step, a fresh draw every iteration."""
    n = settings.train_steps
    inner = (np.arange(1, n) + rng.uniform(-settings.time_jitter, settings.time_jitter, n - 1)) / n
    return torch.tensor([0.0, *inner, 1.0], dtype=torch.float32, device=device)


@torch.no_grad()
def _probe_points(field, x0, settings, rng, device):
    """`jacobian_points` of this batch's paths at one random time: (points, time)."""
    n = min(settings.jacobian_points, len(x0))
    pick = torch.as_tensor(rng.choice(len(x0), n, replace=False), device=device)
    t = float(rng.uniform(0.0, 1.0))
    x = x0[pick]
    if t > 0:
        x = integrate(field, x, torch.tensor([0.0, t], device=device), settings.method, None)[-1]
    return x, t


def _add_probes(batch, field, x0, settings, rng, device):
    """Fill the Jacobian term's probe points, time and directions into `batch`."""
    batch.probe, batch.probe_time = _probe_points(field, x0, settings, rng, device)
    d = torch.as_tensor(rng.standard_normal((len(batch.probe), 3)), dtype=torch.float32, device=device)
    batch.probe_dirs = d / d.norm(dim=1, keepdim=True)
    batch.field, batch.lipschitz = field, settings.lipschitz


class _KineticField(nn.Module):
    """Augmented dynamics [x, e]: dx/dt = f(x, t), de/dt = |f(x, t)|² (per point)."""

    def __init__(self, field):
        super().__init__()
        self.field = field

    def forward(self, t, state):
        v = self.field(t, state[:, :3])
        return torch.cat([v, (v * v).sum(1, keepdim=True)], dim=1)


class _SphereSampler:
    """Sphere points for one iteration: free samples plus a rotated level-3 icosphere.

    Free samples are drawn by the flowed area of a level-4 icosphere's triangles (with
    probability `stretch_sampling`, else uniformly), so stretched regions get points.
    """

    def __init__(self, settings, rng, device):
        self.settings, self.rng, self.device = settings, rng, device
        # the largest icosphere that takes at most ~2/3 of the batch (level 3 for 1024 points)
        level = max((k for k in range(4) if 10 * 4 ** k + 2 <= 0.65 * settings.points), default=0)
        self.shape_verts, faces = icosphere(level) if settings.shape_weight else (np.zeros((0, 3)), None)
        self.shape_faces = None if faces is None else torch.as_tensor(faces, device=device)
        self.n_shape = len(self.shape_verts)
        self.n_free = max(settings.points - self.n_shape, 16)
        self.area_verts, self.area_faces = icosphere(4)
        self.area_p = None

    def uniform(self, n):
        x = self.rng.standard_normal((n, 3))
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return torch.as_tensor(x, dtype=torch.float32, device=self.device)

    @torch.no_grad()
    def _refresh_areas(self, field):
        s = self.settings
        verts = torch.as_tensor(self.area_verts, dtype=torch.float32, device=self.device)
        moved = integrate(field, verts, torch.tensor([0.0, 1.0], device=self.device), s.method,
                          s.train_steps)[-1].cpu().numpy().astype(np.float64)
        f = self.area_faces
        area = np.linalg.norm(np.cross(moved[f[:, 1]] - moved[f[:, 0]], moved[f[:, 2]] - moved[f[:, 0]]), axis=1)
        self.area_p = area / area.sum()

    def _stretched(self, n):
        f = self.area_faces[self.rng.choice(len(self.area_faces), n, p=self.area_p)]
        r1, r2 = np.sqrt(self.rng.random(n)), self.rng.random(n)
        v = self.area_verts
        x = (1 - r1)[:, None] * v[f[:, 0]] + (r1 * (1 - r2))[:, None] * v[f[:, 1]] + (r1 * r2)[:, None] * v[f[:, 2]]
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        return torch.as_tensor(x, dtype=torch.float32, device=self.device)

    def batch(self, field, refresh):
        """(points, 3) sphere points: free samples first, the rotated icosphere last."""
        n_stretch = int(round(self.settings.stretch_sampling * self.n_free))
        parts = []
        if n_stretch:
            if refresh or self.area_p is None:
                self._refresh_areas(field)
            parts.append(self._stretched(n_stretch))
        if self.n_free - n_stretch:
            parts.append(self.uniform(self.n_free - n_stretch))
        if self.n_shape:
            q, _ = np.linalg.qr(self.rng.standard_normal((3, 3)))
            parts.append(torch.as_tensor(self.shape_verts @ q, dtype=torch.float32, device=self.device))
        return torch.cat(parts)


def _radial_profile(unit, k=16):
    """Function from unit directions (N, 3) to the target's outer radius along each (N,)."""
    radius = np.linalg.norm(unit, axis=1)
    dirs = unit / np.maximum(radius, 1e-12)[:, None]
    tree = cKDTree(dirs)

    def profile(u):
        _, idx = tree.query(u, k=k)
        return radius[idx].max(axis=1)
    return profile
