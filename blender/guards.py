"""Checks before Neural Morph writes to Blender data, and the error they raise.

A new bad-input check on Blender data raises InputError with a sentence; add the sentence
to README.md's troubleshooting table (a test checks).
"""
import contextlib
import signal
import threading


class InputError(ValueError):
    """Bad user input: the message is shown to the user as is.

    A ValueError, like core's own sentences, so a core ValueError passes through the glue
    unchanged and one `except ValueError` catches both."""


def check_editable(obj):
    """InputError unless Neural Morph may write to `obj` and its mesh: linked data and
    library overrides are read-only to us (writing a linked mesh crashes Blender, and an
    override does not save geometry)."""
    if obj.library is not None:
        raise InputError(f"'{obj.name}' is linked from a library, so Neural Morph cannot change it: "
                         "make it local first (Object > Relations > Make Local).")
    if obj.override_library is not None and (obj.override_library.is_system_override
                                             or not obj.is_editable):
        raise InputError(f"'{obj.name}' is a library override that is not editable: make the override "
                         "editable (Outliner > Library Override > Make Editable), or make it local.")
    mesh = obj.data
    if mesh is not None and (mesh.library is not None or mesh.override_library is not None):
        raise InputError(f"'{obj.name}' uses a mesh from a library (linked or overridden), which "
                         "Neural Morph cannot change: make the mesh local first (Object > Relations "
                         "> Make Local > Selected Objects and Data).")


def check_single_user(obj):
    """InputError when the object's mesh is shared: writing it would change other objects."""
    if obj.data.users > 1:
        raise InputError(
            f"'{obj.name}' shares its mesh with {obj.data.users - 1} other user(s): "
            "make it single-user first (Object > Relations > Make Single User).")


def check_writable(obj):
    """What every operation that rewrites a morph's mesh checks first (animate, remesh,
    continue fit): not linked or a read-only override, and not shared with other objects."""
    check_editable(obj)
    check_single_user(obj)


@contextlib.contextmanager
def ctrl_c_cancels():
    """A threading.Event that Ctrl+C (SIGINT) sets during the block, for a fit's `cancel`:
    the fit checks it every iteration, so a press cannot be lost (a KeyboardInterrupt
    raised inside a finalizer during a torch call is printed and dropped by Python). The
    fit's core.Cancelled, or a press the block did not act on, leaves the block as
    KeyboardInterrupt. Off the main thread, or where something else handles SIGINT (a
    shell's background job ignores it), the event is never set and Python's own handling
    stays."""
    from .. import core
    event = threading.Event()
    own = (threading.current_thread() is threading.main_thread()
           and signal.getsignal(signal.SIGINT) is signal.default_int_handler)
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set()) if own else None
    try:
        yield event
    except core.Cancelled:
        raise KeyboardInterrupt from None
    finally:
        if own:
            signal.signal(signal.SIGINT, previous)
    if event.is_set():
        raise KeyboardInterrupt
