"""The velocity fields f_θ(x, t) that carry the sphere (integrated by solvers.py)."""
import torch
import torch.nn.functional as F
from torch import nn

GRID_EXTENT = 1.25  # the feature grids span [-GRID_EXTENT, GRID_EXTENT]³ of normalised space


class VelocityField(nn.Module):
    """f(x, t) = MLP([x, t, grid features at x]): (N, 3) positions, t a scalar or (N, 1)
    per-point times -> (N, 3).

    Dense 3D feature grids at several resolutions (`grid_sizes` cells per side,
    `channels` each), sampled trilinearly, hold the detail; a small residual MLP turns
    them, the position and the time into a velocity. Trilinear interpolation and smooth
    activations keep the field Lipschitz, and nothing couples the points of a batch, so
    every point moves on its own (a per-point flow). The output layer starts at zero: the
    untrained flow is the identity. `grid_sizes=()` is a plain MLP on [x, t].
    """

    def __init__(self, width=64, depth=2, grid_sizes=(8, 16, 32), channels=8):
        super().__init__()
        self.width, self.depth = int(width), int(depth)
        self.grid_sizes, self.channels = tuple(int(n) for n in grid_sizes), int(channels)
        self.grids = nn.ParameterList(
            nn.Parameter(1e-2 * torch.randn(1, self.channels, n, n, n)) for n in self.grid_sizes)
        self.inp = nn.Linear(4 + self.channels * len(self.grid_sizes), self.width)
        self.blocks = nn.ModuleList(nn.Linear(self.width, self.width) for _ in range(self.depth))
        self.out = nn.Linear(self.width, 3)
        self.act = nn.SiLU()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.nfe = 0

    def architecture(self):
        """The constructor arguments, as plain data."""
        return {"width": self.width, "depth": self.depth, "grid_sizes": list(self.grid_sizes),
                "channels": self.channels}

    def features(self, x):
        """Trilinear grid features at x (N, 3): (N, channels · len(grid_sizes))."""
        if not self.grid_sizes:
            return x.new_zeros(len(x), 0)
        where = (x / GRID_EXTENT).view(1, 1, 1, -1, 3)
        return torch.cat([
            F.grid_sample(grid, where, mode="bilinear", padding_mode="border", align_corners=True)
            .view(self.channels, -1).t() for grid in self.grids], dim=1)

    def forward(self, t, x):
        self.nfe += 1
        tt = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(x.shape[0], 1)
        h = self.inp(torch.cat([x, tt, self.features(x)], dim=1))
        for block in self.blocks:
            h = h + block(self.act(h))
        return self.out(self.act(h))

    def flops_per_eval(self):
        """Multiply-add FLOPs of one forward evaluation per point (2 per MAC; a trilinear
        lookup counts 8 corners × channels)."""
        w, n_in = self.width, 4 + self.channels * len(self.grid_sizes)
        return 2 * (n_in * w + self.depth * w * w + 3 * w + 8 * self.channels * len(self.grid_sizes))


class BlendedField(nn.Module):
    """(1 - s)·f_a + s·f_b: the field of a direct morph between two fitted flows."""

    def __init__(self, field_a, field_b, s):
        super().__init__()
        self.field_a, self.field_b, self.s = field_a, field_b, float(s)

    def forward(self, t, x):
        return (1.0 - self.s) * self.field_a(t, x) + self.s * self.field_b(t, x)
