"""Snapshots of a pipeline's stream state as bytes (SEMANTICS §15 "Library", DECISION D35).

A generated `_build` has two closures over its state: `snapshot_state()` returns a dict of
plain values (the declared state, named as `vplc plan` lists it) and `restore_state(saved)`
puts such a dict back IN PLACE, so that the per-event code keeps its closure locals and bound
methods. This module turns the dict into bytes and back:

    magic (8) | format version (u16) | program fingerprint (32) | payload length (u64)
    | SHA-256 of the payload (32) | payload (pickle protocol 5 of the dict)

`decode_snapshot` checks all of the header and the checksum before it unpickles, and the
unpickler resolves no global but `collections.deque` and `MISSING`: bytes that are not a
snapshot of this program never run code. Window objects travel as tuples of their slots
(`pack_objects`), so a snapshot names no generated class and restores into any copy of the
same program, whatever name its module was loaded under.
"""

import hashlib
import io
import pickle
import struct
from collections import deque
from operator import attrgetter
from typing import Any

from vpl_runtime.values import MISSING

SNAPSHOT_MAGIC = b"VPLSNAP\x00"
SNAPSHOT_VERSION = 1
_SNAP_HEADER = struct.Struct(">8sH32sQ32s")
_SNAP_TYPES = {t.__name__: t for t in (bool, int, float, str, list, dict, tuple, object)}


def encode_snapshot(fingerprint: str, state: dict[str, object]) -> bytes:
    """The bytes of `state` (a `snapshot_state()` dict) for the program `fingerprint`."""
    payload = pickle.dumps(state, protocol=5)
    digest = hashlib.sha256(payload).digest()
    header = _SNAP_HEADER.pack(
        SNAPSHOT_MAGIC, SNAPSHOT_VERSION, bytes.fromhex(fingerprint), len(payload), digest
    )
    return header + payload


def decode_snapshot(fingerprint: str, data: bytes) -> dict[str, object]:
    """The state dict in `data`; `ValueError` unless it is an intact snapshot of this
    program in a format this runtime reads."""
    view = memoryview(data)
    if len(view) < _SNAP_HEADER.size or bytes(view[:8]) != SNAPSHOT_MAGIC:
        raise ValueError("not a vplc snapshot")
    _, version, program, length, digest = _SNAP_HEADER.unpack_from(view)
    if version != SNAPSHOT_VERSION:
        raise ValueError(
            f"unsupported snapshot format version {version} (this module reads version "
            f"{SNAPSHOT_VERSION})"
        )
    if program != bytes.fromhex(fingerprint):
        raise ValueError("snapshot of another program (its program fingerprint differs)")
    payload = view[_SNAP_HEADER.size :]
    if len(payload) != length or hashlib.sha256(payload).digest() != digest:
        raise ValueError("corrupt snapshot (length or checksum mismatch)")
    try:
        return decode_state(payload)
    except ValueError:
        raise
    except Exception as exc:  # a checksummed payload that this runtime cannot read
        raise ValueError(f"corrupt snapshot ({exc})") from None


def encode_state(state: dict[str, object]) -> bytes:
    """One context's state dict as bytes, made in the context (its process, with the process
    backend) while the state holds still; `decode_state` reads it back."""
    return pickle.dumps(state, protocol=5)


def decode_state(data: bytes | memoryview) -> dict[str, object]:
    """`encode_state`'s dict, through the unpickler that resolves only state's globals."""
    state = _SnapUnpickler(io.BytesIO(data)).load()
    if not isinstance(state, dict):
        raise ValueError("corrupt snapshot (no state dict)")
    return state


class _SnapUnpickler(pickle.Unpickler):
    """Resolves only the globals that stream state holds."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "deque"):
            return deque
        if module == "builtins" and name in _SNAP_TYPES:  # type tags of keys (`key_of`)
            return _SNAP_TYPES[name]
        if name == "MISSING":  # whatever module defines it (a standalone module inlines it)
            return MISSING
        raise pickle.UnpicklingError(f"unexpected global {module}.{name}")


# -- state helpers for generated snapshot_state / restore_state -------------------------


def pack_object(obj: Any) -> tuple[Any, ...]:
    """The values of a slotted state object, in `__slots__` order."""
    return tuple(getattr(obj, name) for name in obj.__slots__)


def pack_objects(objects: dict[Any, Any]) -> list[tuple[Any, tuple[Any, ...]]]:
    """A map of slotted state objects (one class) as (key, slot values), in map order,
    which is first-seen order: end-of-input flushes follow it (§6.7)."""
    if not objects:
        return []
    values = attrgetter(*next(iter(objects.values())).__slots__)
    return [(key, values(obj)) for key, obj in objects.items()]


def restore_object(obj: Any, saved: object) -> None:
    """Put `pack_object` values back into `obj` itself (closures keep referring to it)."""
    for name, value in zip(obj.__slots__, _snap_sequence(saved), strict=True):
        setattr(obj, name, value)


def restore_objects(target: dict[Any, Any], cls: Any, saved: object) -> None:
    """Refill `target` in place with objects of `cls` from `pack_objects` values; a bound
    `target.get` stays valid."""
    target.clear()
    names = cls.__slots__
    new = cls.__new__
    for key, values in _snap_sequence(saved):
        obj = new(cls)
        for name, value in zip(names, values, strict=True):
            setattr(obj, name, value)
        target[key] = obj


def restore_dict(target: dict[Any, Any], saved: object) -> None:
    target.clear()
    target.update(_snap_mapping(saved))


def restore_set(target: set[Any], saved: object) -> None:
    target.clear()
    target.update(_snap_sequence(saved))


def saved_int(saved: object) -> int:
    if not isinstance(saved, int):
        raise ValueError(f"corrupt snapshot (an int was expected, not {saved!r})")
    return saved


def saved_float(saved: object) -> float:
    if not isinstance(saved, (int, float)):
        raise ValueError(f"corrupt snapshot (a number was expected, not {saved!r})")
    return saved


def _snap_sequence(saved: object) -> Any:
    if not isinstance(saved, (list, tuple, set)):
        raise ValueError(f"corrupt snapshot (a sequence was expected, not {type(saved)})")
    return saved


def _snap_mapping(saved: object) -> Any:
    if not isinstance(saved, dict):
        raise ValueError(f"corrupt snapshot (a dict was expected, not {type(saved)})")
    return saved


def saved_list(saved: object) -> list[dict[str, object]]:
    """The saved states of a broadcast pool's in-place copies, one dict per copy."""
    if not isinstance(saved, list) or not all(isinstance(s, dict) for s in saved):
        raise ValueError("corrupt snapshot (a list of states was expected)")
    return saved
