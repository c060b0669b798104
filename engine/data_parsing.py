"""Process data as callers send it (a dict or a JSON object's text), checked once for every room.

Starting, completing, correlating, signalling and editing variables all take data this way;
`parse_data` is re-exported by the facade (`engine.facade.parse_data`).
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidInput
from .input_checks import check_data, parse_object


def parse_data(data: Any) -> dict[str, Any]:
    """Accept a dict or a JSON object string; anything else is the caller's mistake. The data
    must pass `input_checks.check_data` (valid Unicode, bounded depth and size)."""
    if data is None or data == "":
        return {}
    if isinstance(data, str):
        data = parse_object(data, "data")
    if not isinstance(data, dict):
        raise InvalidInput(f"data must be a JSON object like {{\"amount\": 10}}, not {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str) or not k.isidentifier() or k.startswith("_")]
    if bad:
        raise InvalidInput(f"data field name(s) {', '.join(map(ascii, bad))} are not usable as process variables")
    return check_data(data, "data")
