"""Shape keys along a flow and their keyframes (main thread only)."""
import numpy as np

from .store import ANIMATION_KEY


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
