"""What Neural Morph keeps on a morph object: its flow (plain JSON), its `neural_morph_*`
figures, its source objects, and a fingerprint of what it wrote (main thread only)."""
import hashlib
import json

import bpy
import numpy as np

from . import deps
from .guards import InputError
from .meshes import mesh_vertices
from .targets import resolve_target

FLOW_KEY = "_neural_morph_flow"  # leading underscore: hidden from the Custom Properties panel
PREFIX = "neural_morph_"
ANIMATION_KEY = PREFIX + "animation"  # JSON of the last animate() call, for rebuilds
SOURCE_OBJECTS_KEY = "_neural_morph_source_objects"  # the objects a morph was fitted to, as ID
# references: they follow renames and are saved in the .blend, so a morph never mistakes another
# object that took a source's old name for its source
SOURCES_KEY = "_neural_morph_sources"  # JSON list of their names at the fit (messages; older files)
WRITTEN_KEY = "_neural_morph_written"  # fingerprint of the mesh and shape keys Neural Morph wrote


def fingerprint(obj):
    """A hash of the mesh's vertex positions and shape keys: what Neural Morph last wrote."""
    digest = hashlib.sha1(mesh_vertices(obj.data).astype(np.float32).tobytes())
    if obj.data.shape_keys is not None:
        for kb in obj.data.shape_keys.key_blocks:
            co = np.empty(len(kb.data) * 3, dtype=np.float32)
            kb.data.foreach_get("co", co)
            digest.update(kb.name.encode() + co.tobytes())
    return digest.hexdigest()


def mark_written(obj):
    """Remember what Neural Morph wrote, so later hand edits can be told apart."""
    obj[WRITTEN_KEY] = fingerprint(obj)


def edited_by_hand(obj):
    """Whether the mesh or its shape keys changed since Neural Morph last wrote them."""
    stored = obj.get(WRITTEN_KEY)
    return stored is not None and str(stored) != fingerprint(obj)


def store_flow(obj, text):
    """Save a fitted flow on the object: its plain JSON (no pickle), core.storage.to_json."""
    obj[FLOW_KEY] = text


def load_flow(obj):
    """The FittedFlow stored on `obj`; InputError with a sentence when there is none."""
    text = obj.get(FLOW_KEY) if obj is not None else None
    if text is None:
        raise InputError(f"'{getattr(obj, 'name', '?')}' holds no fitted flow: fit it first.")
    from ..core import storage  # torch: imported on first use, like core's lazy names
    try:
        return storage.from_json(str(text))
    except ValueError as exc:
        raise InputError(f"'{obj.name}': {exc}") from None


def store_figures(obj, figures):
    """Write figures as `neural_morph_*` custom properties."""
    for key, value in figures.items():
        obj[PREFIX + key] = value


def figures_of(obj):
    """The `neural_morph_*` custom properties of an object as a dict."""
    return {k[len(PREFIX):]: obj[k] for k in obj.keys() if k.startswith(PREFIX)}


def _source_entries(obj):
    """[(object or None, name)] of the objects `obj` was fitted to. From the ID references
    (SOURCE_OBJECTS_KEY): None where the object was removed, or deleted in the UI (the
    reference keeps it in the file's data, but in no collection). Older files stored only
    names (SOURCES_KEY, before that the `source` figure): those are looked up by name."""
    names = _stored_names(obj)
    refs = obj.get(SOURCE_OBJECTS_KEY)
    if refs is not None:
        refs = list(refs) if isinstance(refs, (list, tuple)) else [refs]
        entries = []
        for i, ref in enumerate(refs):
            alive = isinstance(ref, bpy.types.Object) and len(ref.users_collection) > 0
            name = ref.name if isinstance(ref, bpy.types.Object) else (
                names[i] if i < len(names) else "?")
            entries.append((ref if alive else None, name))
        return entries
    return [(bpy.data.objects.get(n), n) for n in names]


def _stored_names(obj):
    text = obj.get(SOURCES_KEY)
    if text is not None:
        try:
            names = json.loads(str(text))
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return names
        except ValueError:
            pass
    legacy = str(obj.get(PREFIX + "source", ""))
    return [legacy] if legacy in bpy.data.objects else legacy.split(", ")


def stored_sources(obj):
    """Names of the objects `obj` was fitted to: their names now (a renamed source under its
    new name), or the name it had where it is gone."""
    return [name for _, name in _source_entries(obj)]


def source_objects(obj, source=""):
    """The objects to fit `obj` (a morph) against: the named `source`, else the stored ones
    (the objects themselves, whatever they are called now)."""
    if source:
        found = bpy.data.objects.get(source)
        if found is None:
            raise InputError(f"No object named '{source}' exists.")
        return [found]
    entries = _source_entries(obj)
    if not entries or any(found is None for found, _ in entries):
        listed = "', '".join(name for _, name in entries)
        raise InputError(f"The object(s) '{listed}' this morph was fitted to no longer exist: "
                         "set Source to the object to fit against.")
    return [found for found, _ in entries]


def morph_object(context, name):
    """(object, FittedFlow) for the named morph object, or the active one."""
    deps.require()
    obj = resolve_target(context, name)
    if obj.type != 'MESH':
        raise InputError(f"'{obj.name}' is not a mesh made by Neural Morph.")
    return obj, load_flow(obj)


def output_level(obj, model):
    """The icosphere level of the object's mesh (the output of `model`, its FittedFlow);
    InputError if its topology was edited."""
    if model.from_mesh:
        if len(model.start.verts) != len(obj.data.vertices):
            raise InputError(f"'{obj.name}' no longer has the vertices of the mesh it was morphed "
                             "from: morph that mesh onto its target again.")
        return 0
    level = obj.get(PREFIX + "resolution")
    if level is None or len(model.sphere(int(level))[0]) != len(obj.data.vertices):
        raise InputError(
            f"'{obj.name}' no longer has the icosphere topology Neural Morph made: "
            "run Remesh to rebuild it first.")
    return int(level)
