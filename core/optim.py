"""Adam on a one-cycle schedule, without torch.optim.

The same arithmetic as `torch.optim.Adam` (single-tensor path, as on the CPU) driven by
`torch.optim.lr_scheduler.OneCycleLR` (cosine, cycled beta1 0.95 -> 0.85 -> 0.95), step
for step and bit for bit (tests/core/test_optim.py). Why not torch.optim: every torch
optimiser imports `torch._dynamo` on first use (its methods are wrapped in
`torch._disable_dynamo`), about 1 s of the first fit in a process (issue 19), and
calls several Python layers per step.
"""
import math

import torch


def _cos(start, end, pct):
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


class OneCycleAdam:
    """Adam over parameter groups [(params, max_lr), ...] on a one-cycle schedule of
    `total_steps` steps: `step()` after each backward pass, `zero_grad()` before it."""

    def __init__(self, groups, total_steps, pct_start=0.15, div_factor=10.0,
                 final_div_factor=100.0, betas=(0.95, 0.999), base_momentum=0.85, eps=1e-8):
        self.groups = [(list(params), float(lr)) for params, lr in groups]
        self.total = int(total_steps)
        self.max_momentum, self.base_momentum = betas[0], base_momentum
        self.beta2, self.eps = betas[1], eps
        self.phases = ((float(pct_start * self.total) - 1, "initial", "max", "max_m", "base_m"),
                       (self.total - 1, "max", "min", "base_m", "max_m"))
        self.div, self.final_div = div_factor, final_div_factor
        self.state = {}
        self.count = 0
        self._schedule()

    def _schedule(self):
        """lr and beta1 of every group for step `self.count` (OneCycleLR.get_lr)."""
        self.lrs, start = [], 0.0
        for _, max_lr in self.groups:
            values = {"initial": max_lr / self.div, "max": max_lr,
                      "max_m": self.max_momentum, "base_m": self.base_momentum}
            values["min"] = values["initial"] / self.final_div
            start = 0.0
            for i, (end, lr_a, lr_b, m_a, m_b) in enumerate(self.phases):
                if self.count <= end or i == len(self.phases) - 1:
                    pct = (self.count - start) / (end - start)
                    self.lrs.append((_cos(values[lr_a], values[lr_b], pct),
                                     _cos(values[m_a], values[m_b], pct)))
                    break
                start = end

    def zero_grad(self):
        for params, _ in self.groups:
            for p in params:
                p.grad = None

    @torch.no_grad()
    def step(self):
        """One Adam step at the current lr and beta1, then advance the schedule."""
        beta2 = self.beta2
        for (params, _), (lr, beta1) in zip(self.groups, self.lrs):
            for p in params:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = [0.0, torch.zeros_like(p), torch.zeros_like(p)]
                state[0] += 1.0
                step, exp_avg, exp_avg_sq = state
                grad = p.grad
                exp_avg.lerp_(grad, 1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                step_size = lr / (1 - beta1 ** step)
                denom = (exp_avg_sq.sqrt() / (1 - beta2 ** step) ** 0.5).add_(self.eps)
                p.addcdiv_(exp_avg, denom, value=-step_size)
        self.count += 1
        if self.count <= self.total:
            self._schedule()
