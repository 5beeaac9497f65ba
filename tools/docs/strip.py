"""`make strip`: render the sphere → Suzanne morph as a strip of frames for README.md.

Fits Suzanne through the installed extension (default settings), animates it with
`neural_morph.animate`, and renders frames of the evaluated animation side by side
into docs/morph_strip.png.
"""
import os
import pathlib
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="neural_morph_strip_")

import bpy  # noqa: E402

from tools.build import extension  # noqa: E402
from tools.docs import render  # noqa: E402

FRAMES = (1, 20, 40, 60, 80, 100)


def frozen_copies(obj, frames):
    """Static mesh objects of `obj` as evaluated at each frame."""
    scene = bpy.context.scene
    copies = []
    for frame in frames:
        scene.frame_set(frame)
        depsgraph = bpy.context.evaluated_depsgraph_get()
        mesh = bpy.data.meshes.new_from_object(obj.evaluated_get(depsgraph))
        copy = bpy.data.objects.new(f"frame {frame}", mesh)
        copy.matrix_world = obj.matrix_world
        scene.collection.objects.link(copy)
        copies.append(copy)
    return copies


def main():
    out = ROOT / "docs" / "morph_strip.png"
    out.parent.mkdir(exist_ok=True)
    with extension.installed():
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.mesh.primitive_monkey_add()
        settings = ({"iterations": int(os.environ["STRIP_ITERATIONS"])}
                    if "STRIP_ITERATIONS" in os.environ else {})
        bpy.ops.neural_morph.fit(**settings)
        morph = bpy.context.active_object
        bpy.ops.neural_morph.animate(keys=8, frame_start=FRAMES[0], frame_end=FRAMES[-1])
        copies = frozen_copies(morph, FRAMES)
        # every copy sits on top of the others: side_by_side lays them out in a row
        render.side_by_side(copies, out, [f"frame {f}" for f in FRAMES], size=(2400, 520),
                            rotation_z=0.0)
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
