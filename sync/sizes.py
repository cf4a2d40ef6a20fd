"""Sizes as people write them (``512M``, ``4G``, ``1.5GiB``) and as messages print them."""

from __future__ import annotations

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """``512M``, ``4G``, ``1.5GiB`` or plain bytes; ValueError naming the text otherwise."""
    number = text.strip().upper().removesuffix("B").removesuffix("I")
    unit = number[-1] if number and number[-1] in _UNITS else ""
    try:
        value = int(float(number[: len(number) - len(unit)]) * _UNITS[unit])
    except (ValueError, OverflowError):  # also 'inf', 'nan'
        raise ValueError(f"invalid size {text!r} (examples: 512M, 4G)") from None
    if value <= 0:
        raise ValueError(f"size must be positive: {text!r}")
    return value


def format_size(size: int) -> str:
    """The largest binary unit that keeps at least 1 (``64 MiB``, ``1.5 GiB``, ``300 bytes``)."""
    for unit, factor in (("TiB", 1024**4), ("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if size >= factor:
            return f"{size / factor:.3g} {unit}"
    return f"{size} bytes"
