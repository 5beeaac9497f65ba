"""Windows' 260-character path limit and the extension zips.

On Windows, Blender unpacks the extension into EXTENSION_DIR and every wheel it bundles
into SITE_PACKAGES (one shared `.local` folder). A file whose full path reaches MAX_PATH
(260 characters, the terminating NUL included) fails to extract unless the user turned
on Windows' long paths, and Blender then removes the whole wheel: torch would be missing.

Assumption: a user name of 20 characters (USER) and Blender 4.2 (4.5 and 5.0 have
folder names of the same length). Windows counts the same characters on every
platform's wheel layout, so the Linux wheels measure the Windows install too, except
for platform tags and binary names (the Windows ones are shorter).

    python -m tools.build.winpaths dist/*.zip     # the longest Windows path of each zip

torch 2.13 ships license files 171 characters deep
(`torch-*.dist-info/licenses/third_party/kineto/.../duktape-1.5.2/LICENSE.txt`): with a
20-character user name that is 295 characters. `shorten_wheel` moves such license files
to short names in the same licenses folder (nothing else is renamed, every license text
is kept, LONG_PATHS.txt maps each short name back), and rewrites RECORD and METADATA.
"""
import base64
import hashlib
import pathlib
import sys
import tempfile
import zipfile

USER = "x" * 20
APPDATA = rf"C:\Users\{USER}\AppData\Roaming"
EXTENSIONS = APPDATA + r"\Blender Foundation\Blender\4.2\extensions"
EXTENSION_DIR = EXTENSIONS + "\\user_default\\neural_morph\\"
SITE_PACKAGES = EXTENSIONS + "\\.local\\lib\\python3.11\\site-packages\\"
MAX_PATH = 260
# License files longer than this (relative to site-packages) get a short name: no longer
# than torch's longest code path, so licenses never set the limit.
LICENSE_BUDGET = 110
INDEX = "LONG_PATHS.txt"


def windows_path(prefix, name):
    return prefix + name.replace("/", "\\")


def longest(names, prefix):
    """(length, full Windows path) of the longest of `names` unpacked under `prefix`."""
    paths = [windows_path(prefix, n) for n in names if not n.endswith("/")]
    path = max(paths, key=len, default=prefix)
    return len(path), path


def measure_wheel(wheel):
    """(length, path) of the longest file of a wheel unpacked into SITE_PACKAGES."""
    with zipfile.ZipFile(wheel) as zf:
        return longest(zf.namelist(), SITE_PACKAGES)


def measure_zip(zip_path):
    """{what: (length, path)} for an extension zip: its own files and each bundled wheel."""
    out = {}
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        out["extension"] = longest(names, EXTENSION_DIR)
        for name in names:
            if name.endswith(".whl"):
                with tempfile.TemporaryDirectory() as tmp:
                    wheel = pathlib.Path(tmp) / pathlib.PurePosixPath(name).name
                    with zf.open(name) as src, open(wheel, "wb") as dst:
                        while chunk := src.read(1 << 20):
                            dst.write(chunk)
                    out[wheel.name] = measure_wheel(wheel)
    return out


def _record_hash(data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def long_licenses(names, budget=LICENSE_BUDGET):
    """{old name: short name} for license files deeper than `budget` characters."""
    out = {}
    for name in names:
        head, sep, rest = name.partition(".dist-info/licenses/")
        if sep and len(name) > budget and "/" in rest:
            digest = hashlib.sha1(rest.encode()).hexdigest()[:10]
            out[name] = f"{head}{sep}{digest}-{rest.rsplit('/', 1)[1]}"
    return out


def shorten_wheel(wheel, out_dir, budget=LICENSE_BUDGET):
    """Write `wheel` to out_dir with its over-deep license files renamed; returns the new
    path (the input itself, untouched, when nothing is too deep)."""
    wheel = pathlib.Path(wheel)
    with zipfile.ZipFile(wheel) as zf:
        renames = long_licenses(zf.namelist(), budget)
        if not renames:
            return wheel
        out = pathlib.Path(out_dir) / wheel.name
        if out.exists() and out.stat().st_mtime >= wheel.stat().st_mtime:
            return out  # made by an earlier build
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".part")
        dist_info = next(n.split("/", 1)[0] for n in zf.namelist() if ".dist-info/" in n)
        licenses = f"{dist_info}/licenses/"
        record_name = f"{dist_info}/RECORD"
        rows = []
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as dst:
            def write(name, data, like=None):
                info = zipfile.ZipInfo(name, like.date_time if like else (2026, 1, 1, 0, 0, 0))
                info.external_attr = like.external_attr if like else 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                dst.writestr(info, data)
                rows.append(f"{name},{_record_hash(data)},{len(data)}")

            for info in zf.infolist():
                if info.filename == record_name or info.is_dir():
                    continue
                data = zf.read(info)
                if info.filename == f"{dist_info}/METADATA":
                    text = data.decode("utf-8")
                    for old, new in renames.items():
                        text = text.replace(f"License-File: {old[len(licenses):]}\n",
                                            f"License-File: {new[len(licenses):]}\n")
                    data = text.encode("utf-8")
                write(renames.get(info.filename, info.filename), data, info)
            write(licenses + INDEX, "".join(
                f"{new[len(licenses):]}\t{old[len(licenses):]}\n"
                for old, new in sorted(renames.items())).encode("utf-8"))
            rows.append(f"{record_name},,")
            dst.writestr(record_name, "\n".join(rows) + "\n")
    partial.replace(out)
    return out


def main(argv):
    worst = 0
    for zip_path in argv:
        for what, (length, path) in measure_zip(zip_path).items():
            worst = max(worst, length)
            print(f"{pathlib.Path(zip_path).name}  {what}: {length}  {path}")
    print(f"longest Windows path: {worst} characters (limit {MAX_PATH - 1})")
    return 0 if worst < MAX_PATH else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
