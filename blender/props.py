"""bpy property definitions shared by operators and scene settings. Defaults, limits and
descriptions come from core/settings.py; no number is copied here."""
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..core import settings as S

_DEFAULTS = S.FitSettings()


def fit_properties():
    """The fit settings as bpy properties; shared by the operator and the scene settings.

    Hard limits are wide on purpose: core.user_settings() refuses absurd values with a
    message before any work starts, rather than Blender clamping them silently.
    """
    def text(name):
        return {"name": S.USER_SETTINGS[name][0], "description": S.USER_SETTINGS[name][1]}

    def int_setting(name, **limits):
        return IntProperty(default=getattr(_DEFAULTS, name), **text(name), **limits)

    return {
        "iterations": int_setting("iterations", soft_min=S.MIN_ITERATIONS, soft_max=S.SOFT_MAX_ITERATIONS),
        "resolution": int_setting("resolution", soft_min=S.MIN_LEVEL, soft_max=S.MAX_LEVEL),
        "points": int_setting("points", soft_min=S.MIN_POINTS, soft_max=S.MAX_POINTS),
        # step is in hundredths of the value (Blender's convention): 1 moves by 0.01
        "learning_rate": FloatProperty(
            default=_DEFAULTS.learning_rate, soft_min=S.SOFT_MIN_LEARNING_RATE,
            soft_max=S.SOFT_MAX_LEARNING_RATE, precision=4, step=1, **text("learning_rate")),
        "steps": int_setting("steps", soft_min=S.MIN_STEPS, soft_max=S.SOFT_MAX_STEPS),
        **{name: EnumProperty(items=[(kind, kind.title(), "") for kind in S.USER_CHOICES[name]],
                              default=getattr(_DEFAULTS, name), **text(name))
           for name in ("normalization", "parts")},
        "beam_weight": FloatProperty(
            default=_DEFAULTS.beam_weight, soft_min=0.0, soft_max=S.SOFT_MAX_BEAM_WEIGHT,
            precision=2, step=10, **text("beam_weight")),  # the fit refuses < 0, never clamps
        "inside_weight": FloatProperty(
            default=_DEFAULTS.inside_weight, soft_min=0.0, soft_max=S.SOFT_MAX_INSIDE_WEIGHT,
            precision=2, step=5, **text("inside_weight")),  # the fit refuses < 0, never clamps
        "seed": int_setting("seed", soft_min=0),  # the fit refuses < 0, never clamps
    }


def object_property():
    """The morph object an operator works on, by name."""
    return StringProperty(name="Object", default="",
                          description="Morph object; empty means the active object")


def keys_property(description="Shape keys along the flow, both ends included"):
    """Soft limits only: core.settings.check_keys refuses other counts with a message."""
    return IntProperty(name="Keys", default=S.DEFAULT_KEYS, soft_min=S.MIN_KEYS, soft_max=S.MAX_KEYS,
                       description=description)


def level_property(name="Resolution", default=_DEFAULTS.resolution, hard=False, description=""):
    """An icosphere level property; `hard` clamps in the UI, else the operator refuses."""
    if hard:
        return IntProperty(name=name, default=default, description=description,
                           min=S.MIN_LEVEL, max=S.MAX_LEVEL)
    return IntProperty(name=name, default=default, description=description,
                       soft_min=S.MIN_LEVEL, soft_max=S.MAX_LEVEL)


def animation_properties():
    """Settings of animate and morph_between."""
    return {
        "keys": keys_property(),
        "frame_start": IntProperty(name="Start Frame", default=1),
        "frame_end": IntProperty(name="End Frame", default=100),
        "ease": BoolProperty(name="Ease In/Out", default=True,
                             description="Start and end the morph slowly"),
        "reverse": BoolProperty(name="Reverse", default=False,
                                description="Play shape → sphere instead of sphere → shape"),
    }
