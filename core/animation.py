"""Maths of the morph animations: frames, blended states and their self-intersection check.
No Blender data here; the intersection counter is passed in (Blender passes its BVH tree)."""
import numpy as np
import torch

from .field import BlendedField
from .solvers import integrate

PATHS = ("DIRECT", "THROUGH_SPHERE")


def eased_frames(count, frame_start, frame_end, ease):
    """Frames of `count` evenly spaced states; with `ease`, the motion starts and ends slowly."""
    u = np.linspace(0.0, 1.0, count)
    if ease:  # invert smoothstep 3u²-2u³ so that states are reached slowly at both ends
        u = 0.5 - np.sin(np.arcsin(np.clip(1.0 - 2.0 * u, -1, 1)) / 3.0)
    return frame_start + (frame_end - frame_start) * u


def blend_states(model_a, model_b, level, keys, path, steps=None):
    """States (K, V, 3) in target space from A's shape to B's shape, the faces, and s (K,).

    DIRECT flows the sphere with (1 - s)·f_A + s·f_B; THROUGH_SPHERE goes back along A to
    the sphere, then forward along B. The normalisation is interpolated with s."""
    sphere, faces = model_a.sphere(level)
    s_values = np.linspace(0.0, 1.0, keys)
    states = []
    if path == 'DIRECT':
        n_steps = steps or max(model_a.settings.steps, model_b.settings.steps)
        for s in s_values:
            field = BlendedField(model_a.field, model_b.field, s)
            with torch.no_grad():
                x = integrate(field, torch.as_tensor(sphere, dtype=torch.float32),
                              torch.tensor([0.0, 1.0]), model_a.settings.method, n_steps)[-1]
            states.append(blend_transform(model_a, model_b, s, x.double().numpy()))
    else:  # THROUGH_SPHERE: back along A to the sphere, then forward along B
        verts_a, _ = model_a.surface(level, normalized=True)
        for s in s_values:
            if s <= 0.5:
                x = model_a.flow(verts_a, t0=1.0, t1=1.0 - 2.0 * s) if s > 0 else verts_a
            else:
                x = model_b.flow(sphere, t0=0.0, t1=2.0 * s - 1.0)
            states.append(blend_transform(model_a, model_b, s, x))
    return np.stack(states), faces, s_values


def blend_transform(model_a, model_b, s, unit):
    """Normalised points (N, 3) at blend s -> target space, through (1 - s)·M_A + s·M_B of
    the two flows' matrices (centre and scale interpolated)."""
    m = (1.0 - s) * model_a.matrix() + s * model_b.matrix()
    return np.asarray(unit, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


def check_states(states, faces, count):
    """Self-intersecting faces at every state and at each midpoint between neighbours.

    `count(verts, faces)` counts intersecting faces. Returns (worst count, list of
    (label, count) for the non-clean ones)."""
    bad = []
    for i, state in enumerate(states):
        n = count(state, faces)
        if n:
            bad.append((f"key {i}", n))
        if i + 1 < len(states):
            n = count(0.5 * (state + states[i + 1]), faces)
            if n:
                bad.append((f"between keys {i} and {i + 1}", n))
    return max((n for _, n in bad), default=0), bad
