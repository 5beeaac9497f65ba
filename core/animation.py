"""Maths of the morph animations: frames, blended states and their self-intersection check.
No Blender data here; the intersection counter is passed in (Blender passes its BVH tree)."""
import numpy as np
import torch

from .field import BlendedField
from .intersect import self_intersecting_faces
from .pipeline import output_mesh, path_mesh
from .solvers import integrate

PATHS = ("DIRECT", "THROUGH_SPHERE")


def eased_frames(count, frame_start, frame_end, ease):
    """Frames of `count` evenly spaced states; with `ease`, the motion starts and ends slowly."""
    u = np.linspace(0.0, 1.0, count)
    if ease:  # invert smoothstep 3u²-2u³ so that states are reached slowly at both ends
        u = 0.5 - np.sin(np.arcsin(np.clip(1.0 - 2.0 * u, -1, 1)) / 3.0)
    return frame_start + (frame_end - frame_start) * u


def clean_trajectory(model, level, times, find=self_intersecting_faces):
    """States (T, V, 3) normalised of the icosphere at each time in `times`, each one
    untangled like the output mesh (pipeline.output_mesh), and the faces."""
    states = [output_mesh(model, level, find, t)[0] for t in times]
    return np.stack(states), model.sphere(level)[1]


def blend_states(model_a, model_b, level, keys, path, find=self_intersecting_faces):
    """States (K, V, 3) in target space from A's shape to B's shape, the faces, and s (K,).

    DIRECT flows the sphere with (1 - s)·f_A + s·f_B; THROUGH_SPHERE goes back along A to
    the sphere, then forward along B. Each state is untangled along its own path like an
    output mesh; the normalisation is interpolated with s."""
    sphere, faces = model_a.sphere(level)
    s_values = np.linspace(0.0, 1.0, keys)
    states = []
    for s in s_values:
        if path == 'DIRECT':
            steps = max(model_a.settings.steps, model_b.settings.steps)
            field = BlendedField(model_a.field, model_b.field, s)
            with torch.no_grad():
                walk = integrate(field, torch.as_tensor(sphere, dtype=torch.float32),
                                 torch.linspace(0.0, 1.0, steps + 1), model_a.settings.method, steps)
            x, _ = path_mesh(walk.double().numpy(), faces, find)
        elif s <= 0.5:  # THROUGH_SPHERE: back along A to the sphere, then forward along B
            x = output_mesh(model_a, level, find, 1.0 - 2.0 * s)[0]
        else:
            x = output_mesh(model_b, level, find, 2.0 * s - 1.0)[0]
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
