"""What every Neural Morph operator shares: poll, error reporting, selection, frame checks.

A new operator: subclass `NeuralMorphOperator` and `bpy.types.Operator`, put its work in
`run(context)` (raise blender.guards.InputError with a sentence for bad input), add the
class to its module's `classes` and that module to operators/__init__.py.

Errors: the project's own (EXPECTED) are bad input or a missing package, and their
sentence is the report. Anything else is a bug: its traceback goes to the console and the
report says so; the operator is cancelled either way.
"""
import traceback
from typing import TYPE_CHECKING

from ..blender import deps
from ..blender.guards import InputError

# blender.guards.InputError (a ValueError), core's ValueError with a sentence, and
# deps.MissingDependency: what the user can act on from the message alone
EXPECTED = (ValueError, deps.MissingDependency)

if TYPE_CHECKING:  # the mixin relies on Operator's report() and poll_message_set()
    from bpy.types import Operator as _Operator
else:
    _Operator = object


class NeuralMorphOperator(_Operator):
    """Mixin (Node Wrangler style): list it before bpy.types.Operator."""

    if TYPE_CHECKING:  # properties some operators define (registered at runtime)
        frame_start: int
        frame_end: int

    @classmethod
    def poll(cls, context):
        """Greyed out in menus and F3 while a dependency is missing; says which."""
        message = deps.message()
        if message:
            cls.poll_message_set(message)
            return False
        return True

    def execute(self, context):
        return self.guarded(self.run, context)

    def run(self, context):
        raise NotImplementedError

    def guarded(self, function, *args):
        """Call function(*args); an error becomes a report (`report_error`) and {'CANCELLED'}."""
        try:
            return function(*args)
        except Exception as exc:
            self.report_error(exc)
            return {'CANCELLED'}

    def report_error(self, exc):
        """Report an error: an EXPECTED one by its sentence; anything else, a bug, with its
        traceback printed to the console (Blender's system console, or the terminal)."""
        if isinstance(exc, EXPECTED):
            self.report({'ERROR'}, str(exc))
            return
        traceback.print_exception(exc)
        self.report({'ERROR'}, f"Neural Morph failed unexpectedly ({type(exc).__name__}: {exc}); "
                    "its traceback is printed in the system console: please report it.")

    def check_frames(self):
        if self.frame_end <= self.frame_start:
            raise InputError("End Frame must come after Start Frame.")

    def report_check(self, what, result):
        """Report the keys of an animation and its check on every frame (core.AnimationKeys)."""
        keys = len(result.times)
        if result.crossing:
            detail = ", ".join(f"frame {f}: {n}" for f, n in result.crossing[:8])
            more = ", …" if len(result.crossing) > 8 else ""
            self.report({'WARNING'}, f"{what}: {keys} keys; {len(result.crossing)} of the frames from "
                        f"{result.first} to {result.last} self-intersect ({detail}{more}) at keys whose "
                        "own state crosses, which more keys cannot mend: if the flow was fitted with "
                        "untangle off, refit with it on.")
        else:
            self.report({'INFO'}, f"{what}: {keys} keys ({result.asked} asked, {len(result.added)} added "
                        f"where a frame crossed); every frame from {result.first} to {result.last} "
                        "checked, free of self-intersections.")
