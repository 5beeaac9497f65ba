"""Shape keys along a flow and their keyframes (main thread only)."""
import json

import numpy as np

from .. import core
from .guards import InputError, check_writable
from .meshes import mesh_vertices, self_intersecting_faces_bvh
from .store import ANIMATION_KEY, edited_by_hand, mark_written, output_level, store_figures


def clear_animation(obj):
    """Remove Neural Morph shape keys, their keyframes and their figures from the object."""
    if obj.data.shape_keys is not None:
        obj.data.shape_keys.animation_data_clear()
        obj.shape_key_clear()
    for key in [k for k in obj.keys() if k.startswith(ANIMATION_KEY)]:  # and its check's figures
        del obj[key]


def build_shape_keys(obj, states, times, frames, label="t"):
    """Shape keys along `states` (K, V, 3) in mesh space, named by their `times` (K,), the
    state of each shown at its frame in `frames` (K,) (core.Timing.frames).

    Each key's value is keyframed 1 at its own frame and 0 at the frames of its neighbours
    in frame order, with LINEAR interpolation (constant outside), so the mesh passes
    through exactly the given states and blends linearly between neighbours in between:
    core.shown_state computes the same mesh for any frame. The Basis is the mesh as it is.
    """
    clear_animation(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    blocks = []
    for state, t in zip(states, times):
        kb = obj.shape_key_add(name=f"{label}={t:.3f}", from_mix=False)
        kb.data.foreach_set("co", np.asarray(state, dtype=np.float32).ravel())
        kb.slider_min, kb.slider_max = 0.0, 1.0
        blocks.append(kb)
    by_frame = np.argsort(np.asarray(frames, dtype=np.float64), kind="stable")
    for i, index in enumerate(by_frame):
        kb = blocks[index]
        for j in range(max(i - 1, 0), min(i + 2, len(by_frame))):
            kb.value = 1.0 if i == j else 0.0
            kb.keyframe_insert("value", frame=float(frames[by_frame[j]]))
    action = obj.data.shape_keys.animation_data.action
    for fcurve in _fcurves(action):
        for point in fcurve.keyframe_points:
            point.interpolation = 'LINEAR'
    return blocks


def _fcurves(action):
    """F-curves of an action. Blender 4.4+ has layered actions (`action.layers`, not in
    the 4.2 API this add-on declares as its minimum), so that path is guarded by hasattr
    and its attributes are read dynamically; 4.2 to 4.3 have the flat `action.fcurves`."""
    layers = getattr(action, "layers", None)
    if layers is not None and len(layers):
        for layer in layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    yield from bag.fcurves
    else:
        yield from action.fcurves


SETTINGS = ("keys", "frame_start", "frame_end", "ease", "reverse")  # what ANIMATION_KEY stores for rebuilds


def animate(obj, model, keys, frame_start, frame_end, ease, reverse, replace=True):
    """Shape keys from the start (t=0) to the shape (t=1), clean on every frame from
    `frame_start` to `frame_end` (core.clean_keys adds keys where a frame's blend crosses).
    Returns core.AnimationKeys.

    For a fit from the sphere the mesh becomes the flow's shape at t=1 (the Basis); for a
    morph of a mesh (Morph Onto) the Basis stays the source mesh as it was copied (t=0),
    and the keys are placed by the flow's placement(t). Hand edits made since Neural
    Morph last wrote the mesh are refused unless `replace`."""
    if frame_end <= frame_start:
        raise InputError("End Frame must come after Start Frame.")
    core.settings.check_keys(keys)
    check_writable(obj)
    level = output_level(obj, model)
    if not replace and edited_by_hand(obj):
        raise InputError(
            f"'{obj.name}' was edited since Neural Morph wrote it, and Animate would overwrite the "
            "edits with the flow's shape: enable Replace Edits to do that, or keep the edits and "
            "do not animate.")
    faces = model.sphere(level)[1]
    basis_time = 0.0 if model.from_mesh else 1.0
    basis = mesh_vertices(obj.data) if model.from_mesh else None

    def state_at(t):
        if basis is not None and t == 0.0:
            return basis  # the source as it was copied, exactly
        return model.mesh_state(core.output_mesh(model, level, self_intersecting_faces_bvh, t)[0], t)
    # a source mesh's parts that crossed each other at the start may go on crossing (pipeline)
    find = core.beyond_start(model, self_intersecting_faces_bvh)
    result = core.clean_keys(
        state_at, np.linspace(0.0, 1.0, keys), core.Timing(frame_start, frame_end, ease, reverse),
        lambda verts: len(find(verts, faces)), basis_time=basis_time)
    clear_animation(obj)
    first = 0 if model.from_mesh else -1
    obj.data.vertices.foreach_set("co", result.states[first].astype(np.float32).ravel())
    obj.data.update()
    build_shape_keys(obj, result.states, result.times, result.frames)
    names = [kb.name for kb in obj.data.shape_keys.key_blocks]
    obj[ANIMATION_KEY] = json.dumps(dict(keys=keys, frame_start=frame_start, frame_end=frame_end,
                                              ease=ease, reverse=reverse, names=names))
    store_check(obj, result)
    mark_written(obj)
    return result


def store_check(obj, result):
    """The figures of an animation's check (core.AnimationKeys) on the object."""
    store_figures(obj, {"animation_keys": len(result.times),
                             "animation_keys_added": len(result.added),
                             "animation_frames_checked": f"{result.first}-{result.last}",
                             "animation_self_intersections": result.worst})


def animation_names(keys):
    """Names of the shape key blocks animate() made for `keys` keys (Basis first) before it
    stored the names (files saved by earlier versions)."""
    return ["Basis", *(f"t={t:.3f}" for t in np.linspace(0.0, 1.0, keys))]
