"""Fit a sphere flow to a target point set: `fit(target_points, settings)` -> FittedFlow."""
import dataclasses
import math
import time

import numpy as np
import torch
from scipy.spatial import cKDTree

from .flow import VelocityField, integrate
from .normalize import normalization
from .model import FittedFlow


@dataclasses.dataclass
class FitSettings:
    """Everything that decides a fit. Defaults suit a laptop CPU."""
    iterations: int = 800          # optimiser steps (fixed schedule, never a wall-clock stop)
    points: int = 1024             # sphere points flowed per iteration
    target_samples: int = 100_000  # dense target samples the loss measures against
    width: int = 128               # hidden width of the velocity field
    depth: int = 3                 # residual layers
    method: str = "rk4"            # torchdiffeq method
    steps: int = 4                 # fixed solver steps from t=0 to t=1
    adjoint: bool = False          # adjoint backprop (less memory, slower)
    learning_rate: float = 3e-3    # one-cycle peak learning rate
    warm_start: int = 100          # iterations regressing the sphere onto the radial profile
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
            (4 <= self.width <= 1024, "Field width must be between 4 and 1024."),
            (1 <= self.depth <= 16, "Field depth must be between 1 and 16."),
            (1 <= self.steps <= 256, "Solver steps must be between 1 and 256."),
            (0 < self.learning_rate <= 1, "Learning rate must be in (0, 1]."),
            (0 <= self.warm_start <= self.iterations, "Warm-start iterations must be between 0 and the iteration count."),
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
        center, scale = model.center, model.scale
    else:
        center, scale = normalization(target)
        field = VelocityField(settings.width, settings.depth)
        model = FittedFlow(field, center, scale, settings)
    model.settings = settings
    field = model.field.to(device).train()

    unit = (target - center) / scale
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
    start = time.perf_counter()
    history = list(model.history)
    for it in range(settings.iterations):
        if cancel is not None and cancel.is_set():
            raise Cancelled("The fit was cancelled.")
        x0 = _sphere_points(rng, settings.points, device)
        x1 = integrate(field, x0, torch.tensor([0.0, 1.0], device=device), settings.method, settings.steps,
                       settings.adjoint)[-1]
        if it < warm:
            r = radial(x0.cpu().numpy())
            goal = torch.as_tensor(r, dtype=torch.float32, device=device)[:, None] * x0
            loss = ((x1 - goal) ** 2).sum(1).mean()
        else:
            loss = _chamfer(x1, unit_t, tree, rng, settings.points)
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


def _sphere_points(rng, n, device):
    """n uniform random points on the unit sphere: (n, 3) float32 tensor."""
    x = rng.standard_normal((n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return torch.as_tensor(x, dtype=torch.float32, device=device)


def _chamfer(x1, unit_t, tree, rng, n_target):
    """Chamfer between flowed points and a fresh batch of target samples (scalar tensor)."""
    p = x1.detach().cpu().numpy()
    _, to_target = tree.query(p, k=1)
    batch = rng.choice(len(unit_t), n_target, replace=False)
    q = unit_t[torch.as_tensor(batch, device=x1.device)]
    _, to_points = cKDTree(p).query(q.cpu().numpy(), k=1)
    dev = x1.device
    forward = ((x1 - unit_t[torch.as_tensor(to_target, device=dev)]) ** 2).sum(1).mean()
    backward = ((q - x1[torch.as_tensor(to_points, device=dev)]) ** 2).sum(1).mean()
    return forward + backward


def _radial_profile(unit, k=16):
    """Function from unit directions (N, 3) to the target's outer radius along each (N,)."""
    radius = np.linalg.norm(unit, axis=1)
    dirs = unit / np.maximum(radius, 1e-12)[:, None]
    tree = cKDTree(dirs)

    def profile(u):
        _, idx = tree.query(u, k=k)
        return radius[idx].max(axis=1)
    return profile
