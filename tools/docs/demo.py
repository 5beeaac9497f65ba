"""`make demo`: fit Blender's Suzanne headless through the installed extension.

Builds the extension with blender_ext.py, installs it into a throwaway user repository
(the way Blender does), fits with the default settings, saves out/demo.blend, renders
out/demo.png (target and morph side by side, copied to docs/demo.png for README.md) and
prints the figures. DEMO_ITERATIONS=N overrides the iteration count for a quick look.
"""
import os
import pathlib
import shutil
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "out"
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="neural_morph_demo_")
sys.path[:0] = [str(ROOT / "tools" / "build"), str(ROOT / "tools" / "docs")]

import bpy  # noqa: E402

import extension  # noqa: E402
import render  # noqa: E402


def main():
    OUT.mkdir(exist_ok=True)
    zip_path = extension.build(tempfile.mkdtemp(prefix="neural_morph_dist_"))[0]
    extension.install(zip_path)
    try:
        bpy.ops.wm.read_homefile(use_empty=True)
        bpy.ops.mesh.primitive_monkey_add()
        target = bpy.context.active_object
        settings = {"iterations": int(os.environ["DEMO_ITERATIONS"])} if "DEMO_ITERATIONS" in os.environ else {}
        bpy.ops.neural_morph.fit(**settings)
        morph = bpy.context.active_object
        figures = {k[len("neural_morph_"):]: morph[k] for k in morph.keys()
                   if k.startswith("neural_morph_")}
        bpy.ops.wm.save_as_mainfile(filepath=str(OUT / "demo.blend"))
        render.side_by_side([target, morph], OUT / "demo.png", ["Suzanne", "Neural Morph"])
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(OUT / "demo.png", ROOT / "docs" / "demo.png")
        print("\nNeural Morph demo on Suzanne (default settings)")
        print(f"  iterations          {figures['iterations']}")
        print(f"  seconds             {figures['seconds']:.1f}")
        print(f"  chamfer (normalised, squared) {figures['chamfer']:.3e}")
        print(f"  resolution          level {figures['resolution']} ({figures['vertices']} vertices)")
        print(f"  self-intersecting faces {figures['self_intersections']}")
        print(f"  wrote {OUT / 'demo.blend'} and {OUT / 'demo.png'}")
    finally:
        extension.disable()


if __name__ == "__main__":
    main()
