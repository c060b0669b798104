"""The names a diagram script finds without importing anything: spiff-arena's environment.

Diagrams written for spiff-arena expect its script namespace: ``datetime`` (the class),
``timedelta``, ``time``, ``decimal``, ``json``, ``random``, ``re``, ``uuid``, ``calendar``,
``pytz``, ``dateparser``, ``map``/``filter``, ``sanitize_for_md`` and the backend's helper
functions (``get_current_user()``, ``get_env()``, ...). The sandbox calls ``install`` once when
it builds its builtins, so every script, condition, DMN cell and timer expression sees them.

They go into builtins, not environment globals: task data may still use any of these names
for its own values (a field called ``time`` simply shadows the module), as with the sandbox's
own helpers. The modules also become importable (``import json``), each as its allow-listed
subset (engine/script_modules.py); the helpers are in engine/arena_helpers.py.
"""

from __future__ import annotations

import types
from datetime import date, datetime
from typing import Any

from . import arena_helpers, script_modules
from .script_modules import ClockedDate, ClockedDatetime


def install(
    builtins: dict[str, Any],
    modules: dict[str, types.ModuleType],
    module_attrs: dict[str, frozenset[str]],
    type_stand_ins: dict[type, Any],
) -> None:
    """Add spiff-arena's environment to the sandbox's builtins and importable modules."""
    for name, mod in script_modules.MODULES.items():
        modules[name] = mod
        module_attrs[name] = frozenset(vars(mod)) - {"__name__", "__doc__", "__package__", "__loader__", "__spec__"}
    datetime_module = modules.get("datetime")
    if datetime_module is not None:  # `import datetime` / `from datetime import date` read the clock too
        datetime_module.datetime = ClockedDatetime
        datetime_module.date = ClockedDate
    type_stand_ins[datetime] = ClockedDatetime  # type(now)(...) and type(now).now() stay guarded
    type_stand_ins[date] = ClockedDate
    builtins.update(script_modules.MODULES)
    builtins.update(
        datetime=ClockedDatetime,
        date=ClockedDate,
        map=script_modules.ticking_map,
        filter=script_modules.ticking_filter,
    )
    if "decimal" in modules:
        builtins["decimal"] = modules["decimal"]
    builtins.update(arena_helpers.builtins())


def names() -> list[str]:
    """Every name this environment adds (for the compatibility page and its test)."""
    return sorted({*script_modules.MODULES, "datetime", "date", "decimal", "map", "filter",
                   *arena_helpers.builtins()})
