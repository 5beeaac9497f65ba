"""core.optim.OneCycleAdam is torch.optim.Adam on OneCycleLR, bit for bit (issue 19: the
fit avoids torch.optim only for the torch._dynamo import it costs), and the fit trains on
training.FIT_THREADS torch threads unless OMP_NUM_THREADS says otherwise."""
import torch

from neural_morph.core.field import VelocityField
from neural_morph.core.optim import OneCycleAdam


def _run(make, steps=60, total=60):
    torch.manual_seed(0)
    field = VelocityField(16, 1, (4, 8), 2)
    grids = list(field.grids.parameters())
    rest = [p for name, p in field.named_parameters() if not name.startswith("grids.")]
    step = make([(rest, 0.01), (grids, 0.03)], total)
    x = torch.randn(64, 3)
    for i in range(steps):
        loss = (field(0.3, x) - 0.1 * x).square().sum() + field.grids[0].square().sum()
        step(loss)
    return [p.detach().clone() for p in field.parameters()]


def _torch(groups, total):
    opt = torch.optim.Adam([{"params": p, "lr": lr} for p, lr in groups])
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=[lr for _, lr in groups], total_steps=total, pct_start=0.15,
        div_factor=10.0, final_div_factor=100.0)

    def step(loss):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    return step


def _ours(groups, total):
    opt = OneCycleAdam(groups, total)

    def step(loss):
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def test_one_cycle_adam_matches_torch_bit_for_bit():
    for a, b in zip(_run(_torch), _run(_ours)):
        assert torch.equal(a, b)


def test_one_cycle_adam_short_schedule():
    for a, b in zip(_run(_torch, 7, 7), _run(_ours, 7, 7)):
        assert torch.equal(a, b)


def test_fit_trains_on_one_torch_thread_and_restores(monkeypatch):
    import numpy as np

    from neural_morph.core import training
    from neural_morph.core.settings import user_settings
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    seen = []
    try:
        rng = np.random.default_rng(0)
        points = rng.standard_normal((2000, 3))
        training.fit(points / np.linalg.norm(points, axis=1, keepdims=True),
                     user_settings(iterations=2, points=64, target_samples=1000, target_batch=64),
                     progress=lambda i, loss: seen.append(torch.get_num_threads()))
        assert seen == [training.FIT_THREADS] * 2
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
