"""Fit a sphere flow to a target point set: `fit(target_points, settings)` -> FittedFlow."""
import dataclasses
import time

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn

from .flow import VelocityField, integrate
from .icosphere import icosphere
from .model import FittedFlow
from .normalize import normalization


@dataclasses.dataclass
class FitSettings:
    """Everything that decides a fit. Defaults suit a laptop CPU (under a minute on 2 cores)."""
    iterations: int = 1300         # optimiser steps (fixed schedule, never a wall-clock stop)
    points: int = 1024             # sphere points flowed per iteration
    target_samples: int = 100_000  # dense target samples the loss measures against
    target_batch: int = 2048       # target samples per iteration for the target→model term
    width: int = 128               # hidden width of the velocity field
    depth: int = 3                 # residual layers
    method: str = "rk4"            # torchdiffeq method
    steps: int = 2                 # fixed solver steps from t=0 to t=1 (training and output)
    adjoint: bool = False          # adjoint backprop (less memory, slower)
    learning_rate: float = 1e-2    # one-cycle peak learning rate
    warm_start: int = 50           # iterations regressing the sphere onto the radial profile
    loss: str = "distance"         # Chamfer on "distance" (robust) or "squared" distances
    stretch_sampling: float = 1.0  # share of free sphere samples drawn by flowed area
    shape_weight: float = 3e-3     # triangle-shape regulariser on a flowed level-3 icosphere
    kinetic_weight: float = 3e-3   # kinetic energy ∫ |f|² dt: straighter, gentler paths
    seed: int = 0
    resolution: int = 5            # icosphere level of the output mesh
    max_resolution: int = 7        # highest level tried when the output self-intersects
    device: str = "cpu"

    def validate(self):
        """Raise ValueError with a sentence for settings that make no sense."""
        checks = [
            (1 <= self.iterations <= 100_000, "Iterations must be between 1 and 100,000."),
            (16 <= self.points <= 65_536, "Points per iteration must be between 16 and 65,536."),
            (1_000 <= self.target_samples <= 2_000_000, "Target samples must be between 1,000 and 2,000,000."),
            (16 <= self.target_batch <= 65_536, "Target batch must be between 16 and 65,536."),
            (4 <= self.width <= 1024, "Field width must be between 4 and 1024."),
            (1 <= self.depth <= 16, "Field depth must be between 1 and 16."),
            (1 <= self.steps <= 256, "Solver steps must be between 1 and 256."),
            (0 < self.learning_rate <= 1, "Learning rate must be in (0, 1]."),
            (0 <= self.warm_start <= self.iterations, "Warm-start iterations must be between 0 and the iteration count."),
            (self.loss in ("distance", "squared"), "Loss must be 'distance' or 'squared'."),
            (0 <= self.stretch_sampling <= 1, "Stretch sampling must be between 0 and 1."),
            (self.shape_weight >= 0 and self.kinetic_weight >= 0, "Regulariser weights must not be negative."),
            (0 <= self.resolution <= 7, "Resolution (icosphere level) must be between 0 and 7."),
            (self.resolution <= self.max_resolution <= 7, "Maximum resolution must be between resolution and 7."),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self


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
    the sphere most, so thin parts get samples. The loss is the Chamfer distance to the
    target plus small shape and kinetic-energy terms. The first `warm_start` iterations
    regress the sphere onto the target's radial profile instead.
    """
    settings = (settings or FitSettings()).validate()
    target = np.asarray(target_points, dtype=np.float64)
    if target.ndim != 2 or target.shape[1] != 3 or len(target) < 4:
        raise ValueError("Target points must be an (M, 3) array with at least 4 points.")
    if not np.isfinite(target).all():
        raise ValueError("Target points contain NaN or infinite coordinates.")
    torch.manual_seed(settings.seed)
    rng = np.random.default_rng(settings.seed)
    device = torch.device(settings.device)

    if init is not None:
        model = init.copy()
    else:
        center, scale = normalization(target)
        model = FittedFlow(VelocityField(settings.width, settings.depth), center, scale, settings)
    model.settings = dataclasses.replace(settings)  # the model owns its copy
    field = model.field.to(device).train()

    unit = model.to_normalized(target)
    if len(unit) > settings.target_samples:
        unit = unit[rng.choice(len(unit), settings.target_samples, replace=False)]
    unit_t = torch.as_tensor(unit, dtype=torch.float32, device=device)
    tree = cKDTree(unit)

    opt = torch.optim.Adam(field.parameters(), lr=settings.learning_rate)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=settings.learning_rate, total_steps=settings.iterations, pct_start=0.15,
        div_factor=10.0, final_div_factor=100.0)
    warm = settings.warm_start if init is None else 0
    radial = _radial_profile(unit) if warm else None
    sampler = _SphereSampler(settings, rng, device)
    kinetic = _KineticField(field)
    times = torch.tensor([0.0, 1.0], device=device)
    start = time.perf_counter()
    history = list(model.history)
    for it in range(settings.iterations):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The fit was cancelled.")
        steps = settings.steps
        if it < warm:
            x0 = sampler.uniform(settings.points)
            x1 = integrate(field, x0, times, settings.method, steps, settings.adjoint)[-1]
            goal = torch.as_tensor(radial(x0.cpu().numpy()), dtype=torch.float32, device=device)
            loss = ((x1 - goal[:, None] * x0) ** 2).sum(1).mean()
        else:
            x0 = sampler.batch(field, refresh=(it - warm) % 10 == 0)
            state = torch.cat([x0, torch.zeros(len(x0), 1, device=device)], dim=1)
            end = integrate(kinetic, state, times, settings.method, steps, settings.adjoint)[-1]
            x1, energy = end[:, :3], end[:, 3].mean()
            loss = _chamfer(x1, unit_t, tree, rng, settings.target_batch, settings.loss)
            if settings.shape_weight:
                loss = loss + settings.shape_weight * _shape_penalty(x1[-sampler.n_shape:], sampler.shape_faces)
            if settings.kinetic_weight:
                loss = loss + settings.kinetic_weight * energy
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
    model.field = field.cpu().eval()
    model.history = history
    model.seconds += time.perf_counter() - start
    model.iterations += settings.iterations
    return model


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
                          s.steps)[-1].cpu().numpy().astype(np.float64)
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


def _shape_penalty(verts, faces):
    """Mean over triangles of var(squared edge lengths) / mean(squared edge lengths)²: 0 for
    equilateral triangles, large for slivers. verts (V, 3) tensor, faces (F, 3) tensor."""
    a, b, c = verts[faces[:, 0]], verts[faces[:, 1]], verts[faces[:, 2]]
    sq = torch.stack([((a - b) ** 2).sum(1), ((b - c) ** 2).sum(1), ((c - a) ** 2).sum(1)], dim=1)
    return (sq.var(dim=1) / sq.mean(dim=1).pow(2).detach().clamp_min(1e-12)).mean()


def _chamfer(x1, unit_t, tree, rng, n_target, loss="distance"):
    """Chamfer between flowed points and a fresh batch of target samples (scalar tensor).

    Nearest neighbours come from KD-trees (never an N×M matrix); gradients flow through
    the gathered differences. `loss` "distance" averages Euclidean distances, "squared"
    squared ones.
    """
    dev = x1.device
    p = x1.detach().cpu().numpy()
    _, to_target = tree.query(p, k=1)
    q = unit_t[torch.as_tensor(rng.integers(0, len(unit_t), n_target), device=dev)]
    _, to_points = cKDTree(p).query(q.cpu().numpy(), k=1)
    forward = ((x1 - unit_t[torch.as_tensor(to_target, device=dev)]) ** 2).sum(1)
    backward = ((q - x1[torch.as_tensor(to_points, device=dev)]) ** 2).sum(1)
    if loss == "distance":
        forward, backward = (forward + 1e-8).sqrt(), (backward + 1e-8).sqrt()
    return forward.mean() + backward.mean()


def _radial_profile(unit, k=16):
    """Function from unit directions (N, 3) to the target's outer radius along each (N,)."""
    radius = np.linalg.norm(unit, axis=1)
    dirs = unit / np.maximum(radius, 1e-12)[:, None]
    tree = cKDTree(dirs)

    def profile(u):
        _, idx = tree.query(u, k=k)
        return radius[idx].max(axis=1)
    return profile
