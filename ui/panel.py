"""The 3D View sidebar tab "Neural Morph"."""
import bpy

from ..operators import deps
from ..operators import fit as fit_ops
from ..operators.blender_data import figures_of
from .preferences import draw_dependencies

FIGURE_LABELS = (
    ("source", "Target"), ("iterations", "Iterations"), ("seconds", "Seconds"),
    ("chamfer", "Chamfer"), ("resolution", "Level"), ("vertices", "Vertices"),
    ("self_intersections", "Self-intersections"),
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
        col = layout.column(align=True)
        for name in ("iterations", "resolution", "points", "learning_rate", "steps", "seed"):
            col.prop(settings, name)
        job = fit_ops.active_job()
        if job is not None:
            layout.progress(factor=job.fraction, type='BAR',
                            text=f"Iteration {job.iteration}/{job.total}  (Esc cancels)")
        else:
            op = layout.operator("neural_morph.fit", icon='MESH_UVSPHERE')
            op.target = settings.target.name if settings.target else ""
            for name in ("iterations", "resolution", "points", "learning_rate", "steps", "seed"):
                setattr(op, name, getattr(settings, name))
        obj = context.active_object
        figures = figures_of(obj) if obj is not None else {}
        if figures:
            box = layout.box()
            box.label(text=f"Last result: {obj.name}")
            for key, label in FIGURE_LABELS:
                if key in figures:
                    value = figures[key]
                    text = f"{value:.3g}" if isinstance(value, float) else str(value)
                    box.label(text=f"{label}: {text}")


classes = (VIEW3D_PT_neural_morph,)
