"""The 3D View sidebar tab "Neural Morph"."""
import bpy

from .. import api
from ..blender import deps, jobs
from ..blender.store import FLOW_KEY, PREFIX, figures_of
from ..core.settings import USER_SETTINGS
from ..operators.onto import SETTINGS as ONTO_SETTINGS
from . import presets
from .preferences import draw_dependencies

# Continue Fit keeps the morph's level and the stored flow's normalisation and parts
CONTINUE_SETTINGS = tuple(name for name in USER_SETTINGS
                          if name not in ("resolution", "normalization", "parts"))

FIGURE_LABELS = (
    ("source", "Target"), ("iterations", "Iterations"), ("seconds", "Seconds"),
    ("chamfer", "Chamfer"), ("resolution", "Level"), ("vertices", "Vertices"),
    ("self_intersections", "Self-intersections"), ("parts", "Parts"),
)


class VIEW3D_PT_neural_morph(bpy.types.Panel):
    bl_label = "Neural Morph"
    bl_idname = "VIEW3D_PT_neural_morph"
    bl_space_type = 'VIEW_3D'
    bl_region_type = 'UI'
    bl_category = "Neural Morph"

    def draw(self, context):
        layout = self.layout
        if deps.missing():
            draw_dependencies(layout)
            return
        settings = context.scene.neural_morph
        layout.prop(settings, "target")
        presets.draw_menu(layout)
        col = layout.column(align=True)
        for name in USER_SETTINGS:
            col.prop(settings, name)
        job = jobs.active_job()
        if job is not None:
            layout.progress(factor=job.fraction, type='BAR',
                            text=f"Iteration {job.iteration}/{job.total}  (Esc cancels)")
        else:
            op = layout.operator("neural_morph.fit", icon='MESH_UVSPHERE')
            op.target = settings.target.name if settings.target else ""
            for name in USER_SETTINGS:
                setattr(op, name, getattr(settings, name))
        obj = context.active_object
        if obj is not None and FLOW_KEY in obj.keys():
            self.draw_morph_tools(context, settings, obj)
        box = layout.box()
        box.label(text="Morph Between", icon='SHAPEKEY_DATA')
        box.prop(settings, "morph_source")
        box.prop(settings, "morph_target")
        row = box.row()
        row.enabled = bool(settings.morph_source and settings.morph_target)
        op = row.operator("neural_morph.morph_between", text="Morph Between")
        op.source = settings.morph_source.name if settings.morph_source else ""
        op.target = settings.morph_target.name if settings.morph_target else ""
        op.keys = settings.keys
        op.frame_start, op.frame_end = context.scene.frame_start, context.scene.frame_end
        self.draw_onto(context, settings)
        layout.label(text=f"Python: import {api.ALIAS} as nm", icon='CONSOLE')
        figures = figures_of(obj) if obj is not None else {}
        if figures:
            box = layout.box()
            box.label(text=f"Last result: {obj.name}")
            for key, label in FIGURE_LABELS:
                if key in figures:
                    value = figures[key]
                    text = f"{value:.3g}" if isinstance(value, float) else str(value)
                    box.label(text=f"{label}: {text}")


    def draw_onto(self, context, settings):
        """Morph Onto: the selected mesh onto the active object, with the fit settings above."""
        box = self.layout.box()
        box.label(text="Morph Onto", icon='MOD_SHRINKWRAP')
        active = context.active_object
        others = [o for o in context.selected_objects if o != active]
        if active is None or len(others) != 1:
            box.label(text="Select the mesh to morph, then the target (active)")
            return
        row = box.row()
        row.enabled = others[0].type == 'MESH'
        op = row.operator("neural_morph.morph_onto", text=f"Morph '{others[0].name}' onto '{active.name}'")
        op.source, op.target = others[0].name, active.name
        for name in ONTO_SETTINGS:
            setattr(op, name, getattr(settings, name))
        op.keys = settings.keys
        op.frame_start, op.frame_end = context.scene.frame_start, context.scene.frame_end

    def draw_morph_tools(self, context, settings, obj):
        box = self.layout.box()
        box.label(text=f"Morph: {obj.name}", icon='MESH_ICOSPHERE')
        row = box.row(align=True)
        row.prop(settings, "keys")
        op = row.operator("neural_morph.animate", text="Animate")
        op.object, op.keys, op.replace = obj.name, settings.keys, settings.replace_edits
        box.prop(settings, "replace_edits")
        op.frame_start, op.frame_end = context.scene.frame_start, context.scene.frame_end
        row = box.row(align=True)
        row.enabled = PREFIX + "morphed_mesh" not in obj.keys()  # a Morph Onto keeps its topology
        row.prop(settings, "remesh_level")
        op = row.operator("neural_morph.remesh", text="Remesh")
        op.object, op.resolution = obj.name, settings.remesh_level
        op.rebuild_animation = True
        box.prop(settings, "fit_source")
        op = box.operator("neural_morph.fit", text="Continue Fit", icon='PLAY')
        op.target, op.continue_fit = obj.name, True
        op.source = settings.fit_source.name if settings.fit_source else ""
        for name in CONTINUE_SETTINGS:
            setattr(op, name, getattr(settings, name))
        op.resolution = int(obj.get(PREFIX + "resolution", settings.resolution))


classes = (VIEW3D_PT_neural_morph,)
