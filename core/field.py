"""The velocity fields f_θ(x, t) that carry the sphere (integrated by solvers.py)."""
import torch
from torch import nn


class VelocityField(nn.Module):
    """Residual MLP on [x, t]: (N, 3) positions and a scalar time -> (N, 3) velocities.

    Smooth activations and no normalisation across the batch, so every point moves on
    its own (a per-point flow). The output layer starts at zero: the untrained flow is
    the identity.
    """

    def __init__(self, width=128, depth=3):
        super().__init__()
        self.width, self.depth = int(width), int(depth)
        self.inp = nn.Linear(4, self.width)
        self.blocks = nn.ModuleList(nn.Linear(self.width, self.width) for _ in range(self.depth))
        self.out = nn.Linear(self.width, 3)
        self.act = nn.SiLU()
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        self.nfe = 0

    def forward(self, t, x):
        self.nfe += 1
        tt = t.expand(x.shape[0], 1).to(x.dtype)
        h = self.inp(torch.cat([x, tt], dim=1))
        for block in self.blocks:
            h = h + block(self.act(h))
        return self.out(self.act(h))

    def flops_per_eval(self):
        """Multiply-add FLOPs of one forward evaluation per point (2 per MAC)."""
        w = self.width
        return 2 * (4 * w + self.depth * w * w + 3 * w)


class BlendedField(nn.Module):
    """(1 - s)·f_a + s·f_b: the field of a direct morph between two fitted flows."""

    def __init__(self, field_a, field_b, s):
        super().__init__()
        self.field_a, self.field_b, self.s = field_a, field_b, float(s)

    def forward(self, t, x):
        return (1.0 - self.s) * self.field_a(t, x) + self.s * self.field_b(t, x)

