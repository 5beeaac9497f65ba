"""The seed's reference configuration, rebuilt with torchdiffeq directly (no Neural Morph code).

    velocity field  residual MLP on [x, y, z, t]: hidden width 20, 2 residual layers
                    (LayerNorm -> Linear -> Tanh each), Tanh on the output
    solver          torchdiffeq.odeint_adjoint, dopri5, rtol 1e-7, atol 1e-9
    optimiser       Adam lr 0.01, ReduceLROnPlateau(factor 0.99) stepped on the loss
    batch           2,000 sphere points and 2,000 fresh target samples per iteration
    loss            squared Chamfer, mean in both directions, nearest neighbours by KD-tree
                    (the same loss as core/losses.py `chamfer`)

Only torch, torchdiffeq, numpy and scipy: this file is importable without bpy.
"""
import time

import numpy as np
import torch
from scipy.spatial import cKDTree
from torch import nn
from torchdiffeq import odeint, odeint_adjoint

POINTS = 2_000
RTOL, ATOL = 1e-7, 1e-9


class SeedField(nn.Module):
    """Residual MLP [x, y, z, t] -> velocity (3,), width 20, 2 layers, LayerNorm, Tanh output."""

    def __init__(self, width=20, layers=2):
        super().__init__()
        self.inp = nn.Linear(4, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.Tanh())
            for _ in range(layers))
        self.out = nn.Linear(width, 3)
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        tt = t.expand(x.shape[0], 1).to(x.dtype)
        h = self.inp(torch.cat([x, tt], dim=1))
        for block in self.blocks:
            h = h + block(h)
        return torch.tanh(self.out(h))


def sphere_points(rng, n):
    x = rng.standard_normal((n, 3))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return torch.as_tensor(x, dtype=torch.float32)


def chamfer(x1, unit_t, tree, rng, n_target):
    """Squared Chamfer, mean both directions, against a fresh batch of target samples."""
    p = x1.detach().numpy()
    _, to_target = tree.query(p, k=1)
    batch = rng.choice(len(unit_t), n_target, replace=False)
    q = unit_t[torch.as_tensor(batch)]
    _, to_points = cKDTree(p).query(q.numpy(), k=1)
    forward = ((x1 - unit_t[torch.as_tensor(to_target)]) ** 2).sum(1).mean()
    backward = ((q - x1[torch.as_tensor(to_points)]) ** 2).sum(1).mean()
    return forward + backward


class SeedFit:
    """The seed's training loop on normalised target points (unit ball), one step at a time."""

    def __init__(self, unit_points, points=POINTS, seed=0):
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.points = int(points)
        self.unit_t = torch.as_tensor(np.asarray(unit_points), dtype=torch.float32)
        self.tree = cKDTree(np.asarray(unit_points))
        self.field = SeedField()
        self.opt = torch.optim.Adam(self.field.parameters(), lr=0.01)
        self.sched = torch.optim.lr_scheduler.ReduceLROnPlateau(self.opt, factor=0.99)
        self.history = []   # (seconds since the first step began, loss, function evaluations)
        self._t0 = None

    def step(self):
        """One optimiser iteration; returns (seconds, loss)."""
        start = time.perf_counter()
        if self._t0 is None:
            self._t0 = start
        self.field.nfe = 0
        x0 = sphere_points(self.rng, self.points)
        x1 = odeint_adjoint(self.field, x0, torch.tensor([0.0, 1.0]), method="dopri5",
                            rtol=RTOL, atol=ATOL)[-1]
        loss = chamfer(x1, self.unit_t, self.tree, self.rng, self.points)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        value = float(loss.detach())
        self.sched.step(value)
        seconds = time.perf_counter() - start
        self.history.append((time.perf_counter() - self._t0, value, self.field.nfe))
        return seconds, value

    @torch.no_grad()
    def surface(self, sphere_verts):
        """Flow sphere vertices (V, 3) to t=1 with the seed's solver settings: (V, 3) float64."""
        x = torch.as_tensor(np.asarray(sphere_verts), dtype=torch.float32)
        out = odeint(self.field.eval(), x, torch.tensor([0.0, 1.0]), method="dopri5",
                     rtol=RTOL, atol=ATOL)[-1]
        self.field.train()
        return out.double().numpy()


def time_iterations(unit_points, iterations=5, points=POINTS, seed=0):
    """Seconds of each of `iterations` seed iterations: dict with per-iteration figures."""
    run = SeedFit(unit_points, points, seed)
    seconds, losses = [], []
    for _ in range(int(iterations)):
        s, loss = run.step()
        seconds.append(s)
        losses.append(loss)
    return {
        "iterations": len(seconds),
        "points": run.points,
        "seconds": seconds,
        "seconds_per_iteration": float(np.median(seconds)),
        "mean_seconds_per_iteration": float(np.mean(seconds)),
        "losses": losses,
        "forward_evaluations": [h[2] for h in run.history],
    }


def fit_for(unit_points, seconds, points=POINTS, seed=0, max_iterations=100_000):
    """Train the seed configuration for `seconds` of wall time; returns the SeedFit."""
    run = SeedFit(unit_points, points, seed)
    start = time.perf_counter()
    while time.perf_counter() - start < seconds and len(run.history) < max_iterations:
        run.step()
    return run
