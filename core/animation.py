"""Maths of the morph animations: frames, blended states and their self-intersection check.
No Blender data here; the intersection counter is passed in (Blender passes its BVH tree).

How Blender shows the keys (blender/shapekeys.py build_shape_keys): each state is a relative
shape key whose value is keyframed 1 at its own frame and 0 at its neighbours' frames,
with LINEAR interpolation and constant extrapolation. Between the frames of two
neighbouring keys, the mesh is therefore the linear blend of those two states, which
`shown_state` computes exactly as Blender does (single precision, basis-relative).
`clean_keys` checks that blend on every frame and adds keys until no frame crosses."""
import functools
from dataclasses import dataclass, field as dataclass_field

import numpy as np
import torch

from .field import BlendedField
from .intersect import local_checks, self_intersecting_faces
from .pipeline import check_as_stored, clean_moves, output_mesh, path_mesh
from .solvers import integrate

PATHS = ("DIRECT", "THROUGH_SPHERE")
# Blender's F-curves give a keyframe's own value this close to it (BEZT_BINARYSEARCH_THRESH)
EXACT_FRAME = 0.01


@dataclass(frozen=True)
class Timing:
    """How state times (0 = start of the motion, 1 = its end) map to frames: evenly, or
    eased (slow in and out, smoothstep), forwards or reversed."""
    frame_start: float
    frame_end: float
    ease: bool
    reverse: bool = False

    def frames(self, times):
        """Frame at which each state time in `times` is shown."""
        u = np.asarray(times, dtype=np.float64)
        u = 1.0 - u if self.reverse else u
        if self.ease:  # invert smoothstep 3u²-2u³ so that states are reached slowly at both ends
            u = 0.5 - np.sin(np.arcsin(np.clip(1.0 - 2.0 * u, -1, 1)) / 3.0)
        return self.frame_start + (self.frame_end - self.frame_start) * u

    def time(self, frame):
        """State time shown at `frame` (the inverse of `frames`)."""
        u = min(max((frame - self.frame_start) / (self.frame_end - self.frame_start), 0.0), 1.0)
        if self.ease:
            u = u * u * (3.0 - 2.0 * u)
        return 1.0 - u if self.reverse else u


def eased_frames(count, frame_start, frame_end, ease):
    """Frames of `count` evenly spaced states; with `ease`, the motion starts and ends slowly."""
    return Timing(frame_start, frame_end, ease).frames(np.linspace(0.0, 1.0, count))


def clean_trajectory(model, level, times, find=self_intersecting_faces):
    """States (T, V, 3) normalised of the icosphere at each time in `times`, each one
    untangled like the output mesh (pipeline.output_mesh), and the faces."""
    states = [output_mesh(model, level, find, t)[0] for t in times]
    return np.stack(states), model.sphere(level)[1]


def blend_state(model_a, model_b, level, s, path, find=self_intersecting_faces):
    """The state (V, 3) in target space at blend s from A's shape (0) to B's shape (1).

    DIRECT flows the sphere with (1 - s)·f_A + s·f_B, then takes (1 - s) of A's and s of
    B's snap onto its target, and the same shares of their creases (so both ends are the
    two outputs); THROUGH_SPHERE goes back along A to
    the sphere, then forward along B. The state is untangled along its own path like an
    output mesh; the normalisation is interpolated with s."""
    if path == 'DIRECT':
        sphere, faces = model_a.sphere(level)
        steps = max(model_a.settings.steps, model_b.settings.steps)
        field = BlendedField(model_a.field, model_b.field, s)
        with torch.no_grad():
            walk = integrate(field, torch.as_tensor(sphere, dtype=torch.float32),
                             torch.linspace(0.0, 1.0, steps + 1), model_a.settings.method, steps)
        walk = walk.double().numpy()
        # each end's last millimetre (FittedFlow.snapped), blended with s, as one more state
        end = walk[-1]
        snapped = (end + (1.0 - s) * (model_a.snapped(end, faces) - end)
                   + s * (model_b.snapped(end, faces) - end))
        seen = functools.partial(blend_transform, model_a, model_b, s)
        find = local_checks(find)
        x, _ = path_mesh(np.concatenate([walk, snapped[None]]), faces, find, snapped=True,
                         seen=seen)
        if find is not None:  # each end's edges and corners (FittedFlow.creased), blended
            goal = (x + (1.0 - s) * (model_a.creased(x, faces) - x)
                    + s * (model_b.creased(x, faces) - x))
            x, _ = clean_moves(x, snapped, goal, faces, check_as_stored(find, seen))
    elif s <= 0.5:  # THROUGH_SPHERE: back along A to the sphere, then forward along B
        x = output_mesh(model_a, level, find, 1.0 - 2.0 * s)[0]
    else:
        x = output_mesh(model_b, level, find, 2.0 * s - 1.0)[0]
    return blend_transform(model_a, model_b, s, x)


def blend_states(model_a, model_b, level, keys, path, find=self_intersecting_faces):
    """States (K, V, 3) in target space at `keys` evenly spaced s (blend_state), the faces,
    and s (K,)."""
    s_values = np.linspace(0.0, 1.0, keys)
    states = [blend_state(model_a, model_b, level, s, path, find) for s in s_values]
    return np.stack(states), model_a.sphere(level)[1], s_values


def blend_transform(model_a, model_b, s, unit):
    """Normalised points (N, 3) at blend s -> target space, through (1 - s)·M_A + s·M_B of
    the two flows' matrices (centre and scale interpolated)."""
    m = (1.0 - s) * model_a.matrix() + s * model_b.matrix()
    return np.asarray(unit, dtype=np.float64) @ m[:3, :3].T + m[:3, 3]


def shown_state(states, frames, basis, frame):
    """The mesh Blender shows at `frame` for shape keys `states` (K, V, 3) keyed at `frames`
    (K,) as build_shape_keys keys them, over the Basis `basis` (V, 3).

    Mirrors Blender: keyframe times and coordinates in single precision; a LINEAR F-curve
    gives value fac·next + (1 - fac)·previous, with fac = (frame - f_j) / (f_j+1 - f_j),
    and exactly a keyframe's value within EXACT_FRAME of it; the relative key mix starts
    from the Basis and adds weight·(key - Basis) for each key with a non-zero value, in
    the order of the key blocks (`states`' order)."""
    f32 = np.asarray(frames, dtype=np.float32)
    order = np.argsort(f32, kind="stable")
    frame = np.float32(frame)
    at = np.flatnonzero(np.abs(f32 - frame) < EXACT_FRAME)
    weights = np.zeros(len(f32), dtype=np.float32)
    if len(at):
        weights[at[0]] = 1.0
    elif frame <= f32[order[0]]:
        weights[order[0]] = 1.0
    elif frame >= f32[order[-1]]:
        weights[order[-1]] = 1.0
    else:
        j = int(np.searchsorted(f32[order], frame)) - 1
        left, right = order[j], order[j + 1]
        fac = np.float32((frame - f32[left]) / (f32[right] - f32[left]))
        weights[left] = np.float32(0.0) * fac + (np.float32(1.0) - fac) * np.float32(1.0)
        weights[right] = fac * np.float32(1.0) + (np.float32(1.0) - fac) * np.float32(0.0)
    base = np.asarray(basis, dtype=np.float32)
    out = base.copy()
    for k in np.flatnonzero(weights):
        out -= weights[k] * (base - np.asarray(states[k], dtype=np.float32))
    return out


@dataclass
class AnimationKeys:
    """Shape keys whose blend is checked on every frame (clean_keys).

    times (K,) sorted, frames (K,) of each, states (K, V, 3) in mesh space; asked: keys the
    user asked for; added: frames where a key was added because the blend crossed there;
    first, last: the frames checked (every whole frame from first to last); crossing:
    (frame, faces) of the frames that still cross (only where a key's own state crosses)."""
    times: np.ndarray
    frames: np.ndarray
    states: np.ndarray
    asked: int
    first: int
    last: int
    added: list = dataclass_field(default_factory=list)
    crossing: list = dataclass_field(default_factory=list)

    @property
    def worst(self):
        return max((n for _, n in self.crossing), default=0)


def clean_keys(state_at, times, timing, count, basis_time):
    """Keys whose linear blend is free of self-intersections on every whole frame from
    timing.frame_start to timing.frame_end.

    state_at(t) -> (V, 3): the clean state at time t in mesh space (the key's shape);
    times: the keys asked for (both ends included); count(verts) -> number of
    self-intersecting faces; basis_time: the time whose state is the mesh (the Basis).
    Every frame's blend (shown_state) is counted; where one crosses, a key is added at
    that frame (its state at timing.time(frame)), and the frames between the new key's
    neighbours are counted again, until no frame crosses. Each round adds a key at a frame
    that had none, so this ends, at worst with a key on every frame: then every frame
    shows a key's own state, which state_at made clean. Returns AnimationKeys."""
    keys = {float(t): (float(f), state_at(float(t)))
            for t, f in zip(times, timing.frames(times))}
    first, last = int(np.ceil(timing.frame_start)), int(np.floor(timing.frame_end))
    result = {}  # frame -> ((left time, right time) it was counted between, faces)
    added = []
    while True:
        ts = sorted(keys)
        frames = np.array([keys[t][0] for t in ts])
        states = [keys[t][1] for t in ts]
        basis = keys[float(basis_time)][1]
        by_frame = np.argsort(frames, kind="stable")
        fresh = []
        for frame in range(first, last + 1):
            j = int(np.searchsorted(frames[by_frame], frame, side="right"))
            pair = (ts[by_frame[max(j - 1, 0)]], ts[by_frame[min(j, len(ts) - 1)]])
            if frame not in result or result[frame][0] != pair:
                n = count(shown_state(states, frames, basis, frame))
                result[frame] = (pair, n)
                if n and np.abs(frames - frame).min() >= EXACT_FRAME:
                    fresh.append(frame)
        if not fresh:
            break
        for frame in fresh:
            t = float(timing.time(frame))
            keys[t] = (float(frame), state_at(t))
            added.append(frame)
    ts = sorted(keys)
    return AnimationKeys(
        times=np.array(ts), frames=np.array([keys[t][0] for t in ts]),
        states=np.stack([keys[t][1] for t in ts]), asked=len(times), first=first, last=last,
        added=sorted(added), crossing=[(f, n) for f, (_, n) in sorted(result.items()) if n])
