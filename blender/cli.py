"""`blender -b -c neural_morph fit ...`: fit a batch of asset files from the command line.

Registered with `bpy.utils.register_cli_command` while the extension is enabled. Each input
(OBJ, PLY, STL, glTF/GLB through Blender's own importers, or `scene.blend:Object`) gives
`<output>/<name>.blend` holding the target and its morph (flow stored), optionally the
morph exported with Blender's exporter, and one entry in `<output>/report.json`.
Fits go through `bpy.ops.neural_morph.fit`, so they behave exactly like the button.
"""
import argparse
import glob
import json
import os
import pathlib
import time

import bpy

from .. import core
from ..core import presets
from ..core import settings as core_settings
from . import data, deps

COMMAND = "neural_morph"
PROG = f"blender -b -c {COMMAND}"
REPORT = "report.json"
PARTIAL = ".part"  # suffix of files being written; renamed only once complete

# File suffix -> (operator path, keyword of its file argument). Blender's own importers.
IMPORTERS = {
    ".obj": ("wm.obj_import", "filepath"),
    ".ply": ("wm.ply_import", "filepath"),
    ".stl": ("wm.stl_import", "filepath"),
    ".gltf": ("import_scene.gltf", "filepath"),
    ".glb": ("import_scene.gltf", "filepath"),
}
EXPORT_SUFFIX = {"obj": ".obj", "gltf": ".glb"}

_handle = None


def register():
    """Register the command (kept so unregister removes exactly this one)."""
    global _handle
    if _handle is None and hasattr(bpy.utils, "register_cli_command"):
        _handle = bpy.utils.register_cli_command(COMMAND, main)


def unregister():
    global _handle
    if _handle is not None:
        bpy.utils.unregister_cli_command(_handle)
        _handle = None


class AssetError(Exception):
    """One asset cannot be fitted: the message is shown as is."""


# -- options ---------------------------------------------------------------------------------
def fit_options():
    """[(name, type, default, description)] of the user-facing fit settings, from
    core/settings.py: the one home of their defaults (the operator reads them there too)."""
    defaults = core.FitSettings()
    return [(name, type(getattr(defaults, name)), getattr(defaults, name), description)
            for name, (_, description) in core_settings.USER_SETTINGS.items()]


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Neural Morph on the command line.",
        epilog=f"Example: {PROG} fit rock_*.obj --output out/ --preset Draft")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    fit = commands.add_parser(
        "fit", help="fit each input and write one .blend per input",
        description="Fit a sphere flow to each input and write <output>/<name>.blend (target "
                    "and morph, flow stored) plus <output>/report.json. An input whose output "
                    "is complete is skipped unless --force.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    fit.add_argument("inputs", nargs="+", metavar="INPUT",
                     help="mesh files Blender imports (" + ", ".join(sorted(IMPORTERS)) +
                          "; wildcards allowed) or FILE.blend:OBJECT")
    fit.add_argument("--output", "-o", required=True, help="folder for the results (created if missing)")
    fit.add_argument("--preset", choices=list(presets.presets()), default=None,
                     help="start from a preset's settings; options given explicitly win "
                          "(default: none, the operator defaults)")
    for name, kind, default, description in fit_options():
        choices = core_settings.USER_CHOICES.get(name)
        fit.add_argument("--" + name.replace("_", "-"), type=kind, default=None, dest=name,
                         choices=choices, metavar=None if choices else name.upper(),
                         help=f"{description} (default: {default})")
    fit.add_argument("--export", choices=sorted(EXPORT_SUFFIX), default=None,
                     help="also export each morph with Blender's exporter, UVs included: "
                          "obj -> NAME.obj, gltf -> NAME.glb (default: none)")
    fit.add_argument("--force", action="store_true",
                     help="refit inputs whose output already exists (default: skip them)")
    return parser


def settings_of(args):
    """The operator keyword arguments: defaults, then the preset, then explicit options."""
    values = {name: default for name, _, default, _ in fit_options()}
    if args.preset:
        values.update(presets.preset(args.preset))
    for name in list(values):
        given = getattr(args, name, None)
        if given is not None:
            values[name] = given
    return values


# -- inputs ----------------------------------------------------------------------------------
class Asset:
    """One input: a mesh file, or an object inside a .blend (`path:Object`)."""

    def __init__(self, spec):
        self.spec = spec
        self.path, self.object_name = split_spec(spec)
        stem = pathlib.Path(self.path).stem
        self.name = f"{stem}_{self.object_name}" if self.object_name else stem

    def outputs(self, out_dir, export):
        files = [out_dir / f"{self.name}.blend"]
        if export:
            files.insert(0, out_dir / f"{self.name}{EXPORT_SUFFIX[export]}")
        return files


def split_spec(spec):
    """("scene.blend", "Rock") for "scene.blend:Rock"; (path, None) for a plain file."""
    head, sep, tail = spec.rpartition(":")
    if sep and tail and head.lower().endswith(".blend"):
        return head, tail
    return spec, None


def expand(specs):
    """Inputs with wildcards expanded (a shell on Windows does not), order kept, no repeats."""
    out = []
    for spec in specs:
        path, obj = split_spec(spec)
        matches = sorted(glob.glob(path)) if glob.has_magic(path) and not os.path.exists(path) else [path]
        for match in matches or [path]:
            item = f"{match}:{obj}" if obj else match
            if item not in out:
                out.append(item)
    return out


def load_asset(asset):
    """Empty the file, then bring the asset's geometry in. Returns the target object names."""
    bpy.ops.wm.read_homefile(use_empty=True)
    path = pathlib.Path(asset.path)
    if not path.is_file():
        raise AssetError(f"{asset.path}: no such file.")
    if asset.object_name:
        if path.suffix.lower() != ".blend":
            raise AssetError(f"{asset.spec}: only a .blend file can name an object.")
        try:
            with bpy.data.libraries.load(str(path), link=False) as (src, dst):  # type: ignore[attr-defined]  # stub: load -> None
                if asset.object_name not in src.objects:
                    raise AssetError(f"{asset.spec}: '{path.name}' has no object named "
                                     f"'{asset.object_name}'.")
                dst.objects = [asset.object_name]
        except OSError as exc:
            raise AssetError(f"{asset.spec}: cannot read the .blend file ({exc}).") from None
        obj = dst.objects[0]
        bpy.context.scene.collection.objects.link(obj)
        return [obj.name]
    suffix = path.suffix.lower()
    if suffix not in IMPORTERS:
        raise AssetError(f"{asset.path}: cannot import '{suffix or path.name}' files; use "
                         f"{', '.join(sorted(IMPORTERS))} or FILE.blend:OBJECT.")
    op_path, keyword = IMPORTERS[suffix]
    module, name = op_path.split(".")
    before = set(bpy.data.objects)
    try:
        result = getattr(getattr(bpy.ops, module), name)(**{keyword: str(path)})
    except RuntimeError as exc:
        raise AssetError(f"{asset.path}: Blender could not import it: {_clean(exc)}") from None
    new = [o for o in bpy.data.objects if o not in before and o.type in data.SURFACE_TYPES]
    if result != {'FINISHED'} or not new:
        raise AssetError(f"{asset.path}: nothing to fit (Blender imported no mesh from it; "
                         f"is it a valid {suffix[1:].upper()} file?).")
    return [o.name for o in new]


def _clean(exc):
    return " ".join(str(exc).replace("Error: ", "").split())


# -- one asset -------------------------------------------------------------------------------
def fit_asset(asset, out_dir, settings, export):
    """Import, fit, export, save. Returns the figures. Leaves no output if it fails."""
    names = load_asset(asset)
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj.name in names)
    bpy.context.view_layer.objects.active = bpy.data.objects[names[0]]
    try:  # one name: that object; several (a multi-object file): their union, like the panel
        result = bpy.ops.neural_morph.fit(  # type: ignore[attr-defined]  # registered at runtime
            target=names[0] if len(names) == 1 else "", **settings)
    except RuntimeError as exc:
        raise AssetError(f"{asset.spec}: {_clean(exc)}") from None
    if result != {'FINISHED'}:
        raise KeyboardInterrupt  # the operator cancels only when interrupted (Ctrl+C)
    morph = bpy.context.active_object
    figures = data.figures_of(morph)
    files = asset.outputs(out_dir, export)
    partial = [f.with_name(f.name + PARTIAL) for f in files]
    try:
        if export:
            export_morph(morph, partial[0], export)
        bpy.ops.wm.save_as_mainfile(filepath=str(partial[-1]), copy=True, check_existing=False)
        for done, final in zip(partial, files):  # the .blend last: it marks the asset complete
            os.replace(done, final)
    finally:
        for leftover in partial:
            if leftover.exists():
                leftover.unlink()
    return figures


def export_morph(morph, path, kind):
    for obj in bpy.context.view_layer.objects:
        obj.select_set(obj == morph)
    bpy.context.view_layer.objects.active = morph
    if kind == "obj":
        bpy.ops.wm.obj_export(filepath=str(path), export_selected_objects=True, export_uv=True,
                              export_normals=True, export_materials=False)
    else:
        bpy.ops.export_scene.gltf(filepath=str(path), export_format='GLB', use_selection=True,
                                  export_texcoords=True, export_normals=True)
        glb = path.with_name(path.name + ".glb")  # in case the exporter appended its suffix
        if not path.exists() and glb.exists():
            os.replace(glb, path)
    if not path.exists():
        raise AssetError(f"exporting {path.name} wrote nothing.")


def stored_figures(blend):
    """Figures of the morph in a complete output .blend, or None when it holds none."""
    try:
        bpy.ops.wm.open_mainfile(filepath=str(blend))
    except RuntimeError:
        return None
    for obj in bpy.data.objects:
        if data.FLOW_KEY in obj.keys():  # type: ignore[operator]  # stub: keys -> None
            return data.figures_of(obj)
    return None


# -- the batch -------------------------------------------------------------------------------
def main(argv):
    """The registered handler: `argv` is everything after `-c neural_morph`. Returns the exit
    status: 0 when every input is fitted or skipped, 1 when any failed, 2 for bad usage."""
    try:
        args = build_parser().parse_args(list(argv))
    except SystemExit as exc:  # --help or a usage error: argparse has printed why
        return exc.code if isinstance(exc.code, int) else 2
    if args.command != "fit":
        build_parser().print_help()
        return 2
    if deps.missing():
        print(f"Neural Morph: cannot fit: {deps.INSTALL_HINT}", flush=True)
        return 1
    return run_batch(args)


def run_batch(args):
    out_dir = pathlib.Path(args.output)
    settings = settings_of(args)
    try:  # refuse bad settings once, before any asset, with the operator's own message
        core.user_settings(**settings)
    except ValueError as exc:
        print(f"Neural Morph: {exc}", flush=True)
        return 2
    assets = [Asset(spec) for spec in expand(args.inputs)]
    if not any(pathlib.Path(a.path).is_file() for a in assets):
        for a in assets:
            print(f"Neural Morph: {a.path}: no such file.", flush=True)
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    report_path = out_dir / REPORT
    previous = _read_report(report_path)
    report = {"command": f"{PROG} fit", "blender": bpy.app.version_string,
              "settings": settings, "export": args.export, "assets": []}
    seen = {}
    total = len(assets)
    print(f"Neural Morph: {total} input(s) -> {out_dir}", flush=True)
    for index, asset in enumerate(assets, 1):
        tag = f"[{index}/{total}] {asset.spec}"
        entry = {"input": asset.spec, "name": asset.name,
                 "outputs": [str(p) for p in asset.outputs(out_dir, args.export)]}
        start = time.perf_counter()
        try:
            if asset.name in seen:
                raise AssetError(f"{asset.spec}: gives the same output name '{asset.name}' as "
                                 f"{seen[asset.name]}; rename one of them.")
            seen[asset.name] = asset.spec
            files = asset.outputs(out_dir, args.export)
            figures = None
            if not args.force and all(f.exists() for f in files):
                figures = previous.get(asset.name) or stored_figures(files[-1])
            if figures is not None:
                entry.update(status="skipped", figures=figures)
                print(f"Neural Morph: {tag}: skipped, {files[-1]} is complete (--force refits)",
                      flush=True)
            else:
                print(f"Neural Morph: {tag}: fitting", flush=True)
                entry.update(status="fitted", figures=fit_asset(asset, out_dir, settings, args.export))
                print(f"Neural Morph: {tag}: done in {time.perf_counter() - start:.1f} s, "
                      f"Chamfer {entry['figures']['chamfer']:.2e}, level "
                      f"{entry['figures']['resolution']} -> {files[-1]}", flush=True)
        except KeyboardInterrupt:
            entry.update(status="failed", message="interrupted")
            report["assets"].append(entry)
            _write_report(report_path, report)
            print(f"Neural Morph: {tag}: interrupted; stopping the batch.", flush=True)
            return 130
        except Exception as exc:  # one bad asset must not stop the batch
            message = str(exc) if isinstance(exc, AssetError) else f"{asset.spec}: {type(exc).__name__}: {exc}"
            entry.update(status="failed", message=message)
            print(f"Neural Morph: {tag}: FAILED: {message}", flush=True)
        report["assets"].append(entry)
        _write_report(report_path, report)
    bpy.ops.wm.read_homefile(use_empty=True)
    print(summary_table(report["assets"]), flush=True)
    failed = sum(e["status"] == "failed" for e in report["assets"])
    print(f"Neural Morph: {total - failed} of {total} done, {failed} failed; report: {report_path}",
          flush=True)
    return 1 if failed else 0


def summary_table(entries):
    header = ("input", "status", "seconds", "chamfer", "level", "vertices", "self-int.")
    rows = [header]
    for e in entries:
        f = e.get("figures") or {}
        rows.append((e["input"], e["status"],
                     f"{f['seconds']:.1f}" if "seconds" in f else "-",
                     f"{f['chamfer']:.2e}" if "chamfer" in f else "-",
                     str(f.get("resolution", "-")), str(f.get("vertices", "-")),
                     str(f.get("self_intersections", "-"))))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for e in entries:
        if e["status"] == "failed":
            lines.append(f"FAILED {e['input']}: {e['message']}")
    return "\n".join(lines)


def _read_report(path):
    """{asset name: figures} of the fitted or skipped assets in an earlier report."""
    try:
        data = json.loads(path.read_text())
        return {e["name"]: e["figures"] for e in data.get("assets", []) if e.get("figures")}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return {}


def _write_report(path, report):
    partial = path.with_name(path.name + PARTIAL)
    partial.write_text(json.dumps(report, indent=2, default=_plain) + "\n")
    os.replace(partial, path)


def _plain(value):
    """JSON for Blender's ID property values (IDPropertyArray and the like)."""
    try:
        return value.to_list()
    except AttributeError:
        return str(value)
