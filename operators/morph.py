"""Morphing operators on fitted objects: animate, morph_between, remesh."""
import json
import math

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, IntProperty, StringProperty

from . import blender_data as data
from . import deps

ANIMATION_KEY = data.PREFIX + "animation"  # JSON of the last animate() call, for rebuilds


def morph_object(context, name):
    """(object, FittedFlow) for the named morph object, or the active one."""
    deps.require()
    obj = data.resolve_target(context, name)
    if obj.type != 'MESH':
        raise data.InputError(f"'{obj.name}' is not a mesh made by Neural Morph.")
    return obj, data.load_flow(obj)


def output_level(obj, model):
    """The icosphere level of the object's mesh; InputError if its topology was edited."""
    from .. import core
    level = obj.get(data.PREFIX + "resolution")
    if level is None or core.icosphere_counts(int(level))[0] != len(obj.data.vertices):
        raise data.InputError(
            f"'{obj.name}' no longer has the icosphere topology Neural Morph made: "
            "run Remesh to rebuild it first.")
    return int(level)


def eased_frames(count, frame_start, frame_end, ease):
    """Frames of `count` evenly spaced states; with `ease`, the motion starts and ends slowly."""
    u = np.linspace(0.0, 1.0, count)
    if ease:  # invert smoothstep 3u²-2u³ so that states are reached slowly at both ends
        u = 0.5 - np.sin(np.arcsin(np.clip(1.0 - 2.0 * u, -1, 1)) / 3.0)
    return frame_start + (frame_end - frame_start) * u


def clear_animation(obj):
    """Remove Neural Morph shape keys and their keyframes from the object."""
    if obj.data.shape_keys is not None:
        obj.data.shape_keys.animation_data_clear()
        obj.shape_key_clear()
    if ANIMATION_KEY in obj.keys():
        del obj[ANIMATION_KEY]


def build_shape_keys(obj, states, times, frame_start, frame_end, ease, reverse, label="t"):
    """Shape keys along `states` (K, V, 3) in mesh space, blended in sequence over frames.

    Each key is fully on at its own frame and blends linearly into its neighbours, so the
    mesh passes through exactly the given states. The Basis is the mesh as it is.
    """
    clear_animation(obj)
    obj.shape_key_add(name="Basis", from_mix=False)
    blocks = []
    for state, t in zip(states, times):
        kb = obj.shape_key_add(name=f"{label}={t:.3f}", from_mix=False)
        kb.data.foreach_set("co", np.asarray(state, dtype=np.float32).ravel())
        kb.slider_min, kb.slider_max = 0.0, 1.0
        blocks.append(kb)
    order = blocks[::-1] if reverse else blocks
    frames = eased_frames(len(order), frame_start, frame_end, ease)
    for i, kb in enumerate(order):
        for j, frame in enumerate(frames):
            if abs(i - j) <= 1:
                kb.value = 1.0 if i == j else 0.0
                kb.keyframe_insert("value", frame=float(frame))
    action = obj.data.shape_keys.animation_data.action
    for fcurve in _fcurves(action):
        for point in fcurve.keyframe_points:
            point.interpolation = 'LINEAR'
    return blocks


def _fcurves(action):
    """F-curves of an action (layered actions in 4.4+, flat before)."""
    if hasattr(action, "layers") and len(action.layers):
        for layer in action.layers:
            for strip in layer.strips:
                for bag in strip.channelbags:
                    yield from bag.fcurves
    else:
        yield from action.fcurves


def check_states(states, faces):
    """Self-intersecting faces at every state and at each midpoint between neighbours.

    Returns (worst count, list of (label, count) for the non-clean ones).
    """
    bad = []
    for i, state in enumerate(states):
        n = data.count_self_intersections_bvh(state, faces)
        if n:
            bad.append((f"key {i}", n))
        if i + 1 < len(states):
            n = data.count_self_intersections_bvh(0.5 * (state + states[i + 1]), faces)
            if n:
                bad.append((f"between keys {i} and {i + 1}", n))
    return max((n for _, n in bad), default=0), bad


def report_check(op, what, count, bad):
    if bad:
        detail = ", ".join(f"{label}: {n}" for label, n in bad[:5])
        op.report({'WARNING'}, f"{what}: self-intersections found ({detail}); add keys or refit.")
    else:
        op.report({'INFO'}, f"{what}: {count} keys, every key and midpoint free of self-intersections.")


ANIMATION_PROPS = {
    "keys": IntProperty(name="Keys", default=8, min=2, max=256,
                        description="Shape keys along the flow, both ends included"),
    "frame_start": IntProperty(name="Start Frame", default=1),
    "frame_end": IntProperty(name="End Frame", default=100),
    "ease": BoolProperty(name="Ease In/Out", default=True,
                         description="Start and end the morph slowly"),
    "reverse": BoolProperty(name="Reverse", default=False,
                            description="Play shape → sphere instead of sphere → shape"),
}


def animate(obj, model, keys, frame_start, frame_end, ease, reverse):
    """Shape keys from the sphere (t=0) to the shape (t=1). Returns (worst, bad list)."""
    if frame_end <= frame_start:
        raise data.InputError("End Frame must come after Start Frame.")
    level = output_level(obj, model)
    times = np.linspace(0.0, 1.0, keys)
    states, faces = model.trajectory(level, times, normalized=True)
    clear_animation(obj)
    obj.data.vertices.foreach_set("co", states[-1].astype(np.float32).ravel())
    obj.data.update()
    build_shape_keys(obj, states, times, frame_start, frame_end, ease, reverse)
    obj[ANIMATION_KEY] = json.dumps(dict(keys=keys, frame_start=frame_start, frame_end=frame_end,
                                         ease=ease, reverse=reverse))
    worst, bad = check_states(states, faces)
    obj[data.PREFIX + "animation_self_intersections"] = worst
    return worst, bad


class NEURALMORPH_OT_animate(bpy.types.Operator):
    """Animate the morph object from the sphere to its shape with shape keys"""
    bl_idname = "neural_morph.animate"
    bl_label = "Animate Sphere to Shape"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "object": StringProperty(name="Object", default="",
                                 description="Morph object; empty means the active object"),
        **ANIMATION_PROPS,
    }

    def execute(self, context):
        try:
            obj, model = morph_object(context, self.object)
            worst, bad = animate(obj, model, self.keys, self.frame_start, self.frame_end,
                                 self.ease, self.reverse)
        except (data.InputError, RuntimeError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        report_check(self, f"Animated '{obj.name}'", self.keys, bad)
        return {'FINISHED'}


def blend_states(model_a, model_b, level, keys, path, steps=None):
    """States (K, V, 3) in world-like target space from A's shape to B's shape."""
    from .. import core
    import torch
    sphere, faces = model_a.sphere(level)
    s_values = np.linspace(0.0, 1.0, keys)
    states = []
    if path == 'DIRECT':
        n_steps = steps or max(model_a.settings.steps, model_b.settings.steps)
        for s in s_values:
            field = core.BlendedField(model_a.field, model_b.field, s)
            with torch.no_grad():
                x = core.integrate(field, torch.as_tensor(sphere, dtype=torch.float32),
                                   torch.tensor([0.0, 1.0]), model_a.settings.method, n_steps)[-1]
            states.append(_blend_transform(model_a, model_b, s, x.double().numpy()))
    else:  # THROUGH_SPHERE: back along A to the sphere, then forward along B
        verts_a, _ = model_a.surface(level, normalized=True)
        for s in s_values:
            if s <= 0.5:
                x = model_a.flow(verts_a, t0=1.0, t1=1.0 - 2.0 * s) if s > 0 else verts_a
            else:
                x = model_b.flow(sphere, t0=0.0, t1=2.0 * s - 1.0)
            states.append(_blend_transform(model_a, model_b, s, x))
    return np.stack(states), faces, s_values


def _blend_transform(model_a, model_b, s, unit):
    """Normalised points at blend s -> target space, with centre and scale interpolated."""
    center = (1.0 - s) * model_a.center + s * model_b.center
    scale = (1.0 - s) * model_a.scale + s * model_b.scale
    return center + scale * unit


class NEURALMORPH_OT_morph_between(bpy.types.Operator):
    """Morph one fitted shape into another, as a new shape-key animated object"""
    bl_idname = "neural_morph.morph_between"
    bl_label = "Morph Between"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "source": StringProperty(name="Source", description="Morph object to start from (A)"),
        "target": StringProperty(name="Target", description="Morph object to end at (B)"),
        "path": EnumProperty(
            name="Path", default='DIRECT',
            items=[('DIRECT', "Direct", "Flow the sphere with the blended field (1-s)·f_A + s·f_B"),
                   ('THROUGH_SPHERE', "Through Sphere", "Back along A to the sphere, then along B")]),
        "resolution": IntProperty(name="Resolution", default=-1, min=-1, max=7,
                                  description="Icosphere level; -1 uses the source's level"),
        **ANIMATION_PROPS,
    }

    def execute(self, context):
        from .. import core
        try:
            if not self.source or not self.target:
                raise data.InputError("Set both Source and Target morph objects.")
            obj_a, model_a = morph_object(context, self.source)
            obj_b, model_b = morph_object(context, self.target)
            if self.frame_end <= self.frame_start:
                raise data.InputError("End Frame must come after Start Frame.")
            level = self.resolution if self.resolution >= 0 else output_level(obj_a, model_a)
            states, faces, s_values = blend_states(model_a, model_b, level, self.keys, self.path)
        except (data.InputError, RuntimeError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        # mesh space = A's normalised space, so the object sits over A and ends over B
        local = (states - model_a.center) / model_a.scale
        name = f"{obj_a.name} to {obj_b.name}"
        sphere, _ = core.icosphere(level)
        mesh = data.write_mesh(name, local[0], faces, core.face_corner_uvs(sphere, faces))
        obj = bpy.data.objects.new(name, mesh)
        obj.matrix_world = data.normalization_matrix(model_a.center, model_a.scale)
        data.output_collection(context, obj_a).objects.link(obj)
        build_shape_keys(obj, local, s_values, self.frame_start, self.frame_end, self.ease,
                         self.reverse, label="s")
        worst, bad = check_states(local, faces)
        data.store_figures(obj, {"morph_source": obj_a.name, "morph_target": obj_b.name,
                                 "morph_path": self.path, "resolution": level,
                                 "vertices": len(sphere), "animation_self_intersections": worst})
        for other in context.view_layer.objects:
            other.select_set(False)
        obj.select_set(True)
        context.view_layer.objects.active = obj
        report_check(self, f"Morph '{name}'", self.keys, bad)
        return {'FINISHED'}


def remesh(obj, model, level):
    """Replace the object's mesh data in place with the flow evaluated at `level`."""
    from .. import core
    verts, faces = model.surface(level, normalized=True)
    sphere, _ = core.icosphere(level)
    data.write_mesh(obj.data.name, verts, faces, core.face_corner_uvs(sphere, faces), mesh=obj.data)
    bad = data.count_self_intersections_bvh(verts, faces)
    data.store_figures(obj, {"resolution": level, "vertices": len(verts), "self_intersections": bad})
    return bad


class NEURALMORPH_OT_remesh(bpy.types.Operator):
    """Re-evaluate the stored flow at another icosphere level, without retraining"""
    bl_idname = "neural_morph.remesh"
    bl_label = "Remesh Morph"
    bl_options = {'REGISTER', 'UNDO'}
    __annotations__ = {
        "object": StringProperty(name="Object", default="",
                                 description="Morph object; empty means the active object"),
        "resolution": IntProperty(name="Resolution", default=5, soft_min=0, soft_max=7,
                                  description="Icosphere level (5: 10,242 vertices, 7: 163,842)"),
        "rebuild_animation": BoolProperty(
            name="Rebuild Animation", default=False,
            description="If the object is animated, rebuild its shape keys at the new level"),
    }

    def execute(self, context):
        try:
            if not 0 <= self.resolution <= 7:
                raise data.InputError("Resolution (icosphere level) must be between 0 and 7.")
            obj, model = morph_object(context, self.object)
            animation = obj.get(ANIMATION_KEY)
            if obj.data.shape_keys is not None and not (self.rebuild_animation and animation):
                raise data.InputError(
                    f"'{obj.name}' has shape keys: enable Rebuild Animation, or remove them first.")
            if obj.data.users > 1:
                raise data.InputError(
                    f"'{obj.name}' shares its mesh with {obj.data.users - 1} other user(s): "
                    "make it single-user first (Object > Relations > Make Single User).")
            if obj.data.shape_keys is not None:
                clear_animation(obj)
            bad = remesh(obj, model, self.resolution)
            if animation:
                animate(obj, model, **json.loads(animation))
        except (data.InputError, RuntimeError) as exc:
            self.report({'ERROR'}, str(exc))
            return {'CANCELLED'}
        level = self.resolution
        if bad:
            self.report({'WARNING'}, f"Remeshed '{obj.name}' at level {level}: {bad} self-intersecting faces.")
        else:
            self.report({'INFO'}, f"Remeshed '{obj.name}' at level {level} ({len(obj.data.vertices)} vertices), clean.")
        return {'FINISHED'}


classes = (NEURALMORPH_OT_animate, NEURALMORPH_OT_morph_between, NEURALMORPH_OT_remesh)
