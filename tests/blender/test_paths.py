"""Windows' 260-character path limit for what `make extension` ships (see tools/build/winpaths.py).

Building the zips with wheels takes minutes and 240 MB, too slow for the suite, so this
builds the small zip (the extension's own files) and measures what the bundled wheels
unpack from their own file lists: the RECORD of each installed distribution that
`make extension` bundles (the same wheels, on this platform), with the license
renames that the build applies.
"""
import base64
import hashlib
import importlib.metadata as md
import re
import zipfile

import pytest
from packaging.requirements import Requirement

from tools.build import wheels, winpaths


def bundled_distributions():
    """The distributions `make extension` bundles: REQUIREMENTS and what they need, no numpy."""
    seen, todo = {}, [Requirement(r).name for r in wheels.REQUIREMENTS]
    while todo:
        name = todo.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in seen or wheels.NEVER_BUNDLE.match(key + "-"):
            continue
        dist = md.distribution(name)
        seen[key] = dist
        for text in dist.requires or []:
            req = Requirement(text)
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    return seen


def test_the_extensions_own_files_and_wheel_names_fit(built_zip):
    with zipfile.ZipFile(built_zip) as zf:
        names = zf.namelist()
    # The big zips add wheels/<wheel file name>; the tags here (manylinux) are the longest.
    for dist in bundled_distributions().values():
        tags = [line.split(": ", 1)[1].split("-") for line in (dist.read_text("WHEEL") or "").splitlines()
                if line.startswith("Tag: ")]
        # A wheel with several tags joins each part with dots (py3-none-manylinux_a.manylinux_b).
        compound = "-".join(".".join(dict.fromkeys(t[i] for t in tags)) for i in range(3))
        names.append(f"wheels/{dist.metadata['Name']}-{dist.version}-{compound}.whl")
    length, path = winpaths.longest(names, winpaths.EXTENSION_DIR)
    assert length < winpaths.MAX_PATH, path


def test_every_unpacked_wheel_file_fits_after_the_license_renames():
    dists = bundled_distributions()
    assert {"torch", "torchdiffeq", "scipy"} <= set(dists)
    worst = (0, "")
    for dist in dists.values():
        names = [str(f) for f in dist.files or [] if not str(f).startswith("..")]
        renames = winpaths.long_licenses(names)
        worst = max(worst, winpaths.longest([renames.get(n, n) for n in names], winpaths.SITE_PACKAGES))
    assert worst[0] < winpaths.MAX_PATH, worst[1]
    # Without the renames torch's deepest license file would not fit.
    torch_files = [str(f) for f in dists["torch"].files]
    assert winpaths.longest(torch_files, winpaths.SITE_PACKAGES)[0] >= winpaths.MAX_PATH


def _sha(data):
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_shorten_wheel_keeps_every_license_and_a_valid_record(tmp_path):
    deep = "third_party/" + "/".join(["very_long_directory_name"] * 5) + "/LICENSE.txt"
    files = {
        "pkg/__init__.py": b"x = 1\n",
        "pkg-1.0.dist-info/METADATA": f"Name: pkg\nLicense-File: LICENSE\nLicense-File: {deep}\n".encode(),
        "pkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "pkg-1.0.dist-info/licenses/LICENSE": b"top license\n",
        f"pkg-1.0.dist-info/licenses/{deep}": b"deep license\n",
    }
    record = "".join(f"{n},{_sha(d)},{len(d)}\n" for n, d in files.items()) + "pkg-1.0.dist-info/RECORD,,\n"
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        zf.writestr("pkg-1.0.dist-info/RECORD", record)
    assert winpaths.shorten_wheel(wheel, tmp_path / "none", budget=1000) == wheel  # nothing to do
    out = winpaths.shorten_wheel(wheel, tmp_path / "short")
    with zipfile.ZipFile(out) as zf:
        names = zf.namelist()
        assert max(len(n) for n in names) <= winpaths.LICENSE_BUDGET
        texts = sorted(zf.read(n) for n in names if "/licenses/" in n and not n.endswith(winpaths.INDEX))
        assert texts == [b"deep license\n", b"top license\n"]
        index = zf.read(f"pkg-1.0.dist-info/licenses/{winpaths.INDEX}").decode()
        short = index.split("\t")[0]
        assert index.strip().endswith(deep) and f"License-File: {short}\n" in zf.read(
            "pkg-1.0.dist-info/METADATA").decode()
        rows = [r.split(",") for r in zf.read("pkg-1.0.dist-info/RECORD").decode().splitlines()]
        assert sorted(r[0] for r in rows) == sorted(names)
        for name, digest, size in rows:
            if digest:
                assert digest == _sha(zf.read(name)) and int(size) == len(zf.read(name))


@pytest.mark.parametrize("name", ["EXTENSION_DIR", "SITE_PACKAGES"])
def test_the_assumed_windows_folders(name):
    """The stated assumption: a 20-character user name, Blender's 4.2 folder layout."""
    folder = getattr(winpaths, name)
    assert folder.startswith("C:\\Users\\" + "x" * 20
                             + "\\AppData\\Roaming\\Blender Foundation\\Blender\\4.2\\extensions\\")
    assert folder.endswith("\\")
