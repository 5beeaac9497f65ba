"""Every user-facing message appears in README.md's troubleshooting table.

Messages are collected from the source: the string of every `raise InputError(...)` and
`raise ValueError(...)`, every `.report(...)`, and the sentences of settings.validate().
For an f-string, its longest constant piece must appear in the table (where the README
writes … for the variable parts).
"""
import ast
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = [*sorted((ROOT / "core").glob("*.py")), *sorted((ROOT / "blender").glob("*.py")),
           *sorted((ROOT / "operators").glob("*.py")), ROOT / "api.py", ROOT / "commandline.py"]
MIN_PIECE = 12  # shorter pieces ("'", ": ") say nothing


def _pieces(node):
    """Constant string pieces of a str constant, f-string or concatenation."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return [v.value for v in node.values if isinstance(v, ast.Constant)]
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _pieces(node.left) + _pieces(node.right)
    return []


def _key(node):
    """The piece of a message the README must contain, or None when there is no literal."""
    pieces = [p.strip(" '\"") for p in _pieces(node)]
    pieces = [p for p in pieces if len(p) >= MIN_PIECE]
    return max(pieces, key=len) if pieces else None


def _validate_body(tree):
    return {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef) and f.name == "validate"
            for n in ast.walk(f)}


def messages():
    found = {}
    for path in SOURCES:
        tree = ast.parse(path.read_text(), str(path))
        in_validate = _validate_body(tree)
        for node in ast.walk(tree):
            arg = None
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call) and node.exc.args:
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
                if name in ("InputError", "ValueError", "AssetError"):
                    arg = node.exc.args[0]
            elif (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "report"
                  and len(node.args) == 2):
                arg = node.args[1]
            elif (isinstance(node, ast.Tuple) and id(node) in in_validate and len(node.elts) == 2
                  and _pieces(node.elts[1])):
                arg = node.elts[1]  # (condition, sentence) pairs of FitSettings.validate
            if arg is not None:
                key = _key(arg)
                if key is not None:
                    found.setdefault(key, f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def troubleshooting_table():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Troubleshooting", 1)[1].split("\n## ", 1)[0]
    return re.sub(r"\s+", " ", section.replace("`", ""))


def test_messages_are_found():
    assert len(messages()) > 30


@pytest.mark.parametrize("key,where", sorted(messages().items()))
def test_message_is_in_readme_troubleshooting(key, where):
    assert re.sub(r"\s+", " ", key) in troubleshooting_table(), f"{where}: add a row for {key!r}"
