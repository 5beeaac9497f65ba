"""`make demo`: fit Blender's Suzanne headless through the installed extension.

Builds the extension with blender_ext.py, installs it into a throwaway user repository
(the way Blender does), fits with the default settings, saves out/demo.blend, renders
out/demo.png (target and morph side by side, copied to docs/demo.png for README.md) and
prints the figures. When the shared test models lie beside the checkout
(../shared/models/cow.obj), it fits the cow too: out/cow.blend and docs/cow.png.
DEMO_ITERATIONS=N overrides the iteration count for a quick look.
"""
import os
import pathlib
import shutil
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUT = ROOT / "out"
COW = ROOT.parent / "shared" / "models" / "cow.obj"
os.environ["BLENDER_USER_RESOURCES"] = tempfile.mkdtemp(prefix="neural_morph_demo_")

import bpy  # noqa: E402

from tools.build import extension  # noqa: E402
from tools.docs import render  # noqa: E402


def fit_and_render(name, add_target, settings):
    """Fit the target `add_target()` makes in an empty file; save out/<name>.blend and
    render out/<name>.png and docs/<name>.png. Returns the morph's figures."""
    bpy.ops.wm.read_homefile(use_empty=True)
    target = add_target()
    bpy.ops.neural_morph.fit(target=target.name, **settings)
    morph = bpy.context.active_object
    figures = {k[len("neural_morph_"):]: morph[k] for k in morph.keys()
               if k.startswith("neural_morph_")}
    bpy.ops.wm.save_as_mainfile(filepath=str(OUT / f"{name}.blend"))
    render.side_by_side([target, morph], OUT / f"{name}.png", [target.name, "Neural Morph"])
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copyfile(OUT / f"{name}.png", ROOT / "docs" / f"{name}.png")
    print(f"\nNeural Morph demo on {target.name} (default settings)")
    print(f"  iterations          {figures['iterations']}")
    print(f"  seconds             {figures['seconds']:.1f}")
    print(f"  chamfer (normalised, squared) {figures['chamfer']:.3e}")
    print(f"  resolution          level {figures['resolution']} ({figures['vertices']} vertices)")
    print(f"  self-intersecting faces {figures['self_intersections']}")
    print(f"  wrote {OUT / (name + '.blend')} and docs/{name}.png")
    return figures


def add_suzanne():
    bpy.ops.mesh.primitive_monkey_add()
    return bpy.context.active_object


def add_cow():
    bpy.ops.wm.obj_import(filepath=str(COW))
    cow = bpy.context.selected_objects[0]
    cow.name = "Cow"
    return cow


def main():
    OUT.mkdir(exist_ok=True)
    settings = {"iterations": int(os.environ["DEMO_ITERATIONS"])} if "DEMO_ITERATIONS" in os.environ else {}
    with extension.installed():
        fit_and_render("demo", add_suzanne, settings)
        if COW.is_file():
            fit_and_render("cow", add_cow, settings)
        else:
            print(f"\n{COW} is not there: the cow picture was not made")


if __name__ == "__main__":
    main()
