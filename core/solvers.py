"""Integrating a velocity field with torchdiffeq, for every solver in settings.SOLVERS."""
import torch
from torchdiffeq import odeint, odeint_adjoint

from .settings import SOLVERS


def integrate(field, x, times, method="rk4", steps=4, adjoint=False, rtol=1e-5, atol=1e-6):
    """Integrate dx/dt = field(t, x) from x at times[0] to every time in `times`.

    x: (N, 3) tensor; times: 1-D tensor (increasing or decreasing). Fixed-grid methods
    take `steps` steps per unit time, or with `steps=None` one step between neighbouring
    `times` (training's jittered grid); adaptive ones use rtol/atol. Returns (T, N, 3).
    """
    kind = SOLVERS.get(method)
    if kind is None:
        raise ValueError(f"Solver method must be one of {', '.join(SOLVERS)}.")
    times = torch.as_tensor(times, dtype=x.dtype, device=x.device)
    kwargs = {"method": method}
    if kind == "fixed" and steps is not None:
        kwargs["options"] = {"step_size": 1.0 / max(float(steps), 1e-6)}
    else:
        kwargs.update(rtol=rtol, atol=atol)
    solve = odeint_adjoint if adjoint else odeint
    if adjoint:
        kwargs["adjoint_params"] = tuple(field.parameters())
    return solve(field, x, times, **kwargs)
