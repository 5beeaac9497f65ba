"""Loading a bench target into a fresh Blender file: Suzanne, Suzanne moved, an OBJ
(through Blender's own importer) or a generated held-out shape (heldout.py). Imports bpy
but not torch, so bench.fit_profile can load a target before its clock starts."""
import pathlib

import bpy

from bench import heldout

MOVED = "moved"  # Suzanne moved, rotated (0.3, 0.5, 0.1 rad) and scaled (2, 1, 0.5)
GENERATED = "generated:"  # + a name in heldout.NAMES: built from Blender primitives


def load_target(name, path):
    """Fresh empty file with the target in it; returns the object (named `name`)."""
    bpy.ops.wm.read_homefile(use_empty=True)
    if path is None or path == MOVED:
        bpy.ops.mesh.primitive_monkey_add()
        obj = bpy.context.active_object
        if path == MOVED:
            obj.location, obj.rotation_euler, obj.scale = (3, -1, 2), (0.3, 0.5, 0.1), (2, 1, 0.5)
            bpy.context.view_layer.update()
    elif str(path).startswith(GENERATED):
        obj = heldout.make(str(path)[len(GENERATED):])
        bpy.context.view_layer.update()
    else:
        if not pathlib.Path(path).is_file():
            raise FileNotFoundError(f"{path} does not exist")
        before = set(bpy.data.objects)
        result = bpy.ops.wm.obj_import(filepath=str(path))
        new = [o for o in bpy.data.objects if o not in before and o.type == 'MESH']
        if result != {'FINISHED'} or not new:
            raise RuntimeError(f"Blender's OBJ importer read no mesh from {path}")
        if len(new) > 1:  # split by `o`/`g` records: join into one target
            for o in bpy.context.view_layer.objects:
                o.select_set(o in new)
            bpy.context.view_layer.objects.active = new[0]
            bpy.ops.object.join()
        obj = new[0]
    obj.name = name
    return obj
