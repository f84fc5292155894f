"""SnapStart runtime hooks, as the module of the same name that AWS's python runtimes carry
(and the ``snapshot-restore-py`` package publishes).

Function code registers callables to run before the platform takes its snapshot of an
initialised environment and after it restores one:

    @register_before_snapshot
    def close_connections(): ...

    register_after_restore(reseed, 42, source="restore")

Each registration is kept as ``(func, args, kwargs)``. The runtime runs the before-snapshot
ones in the reverse order of registration and the after-restore ones in order.
"""

_before_snapshot = []
_after_restore = []


def register_before_snapshot(func, *args, **kwargs):
    """Registers ``func(*args, **kwargs)`` to run before the snapshot; returns ``func``, so it
    also serves as a decorator."""
    _before_snapshot.append((func, args, kwargs))
    return func


def register_after_restore(func, *args, **kwargs):
    """Registers ``func(*args, **kwargs)`` to run after each restore; returns ``func``, so it
    also serves as a decorator."""
    _after_restore.append((func, args, kwargs))
    return func


def get_before_snapshot():
    """The before-snapshot registrations, in registration order (the list itself)."""
    return _before_snapshot


def get_after_restore():
    """The after-restore registrations, in registration order (the list itself)."""
    return _after_restore
