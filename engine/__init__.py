"""crmflow's BPMN runtime on SpiffWorkflow. Knows nothing of CRM.

The `Engine` facade is the one way in. Plug-in points are exported here too: handlers through a
`HandlerRegistry`, worklist routing through a `TaskRouter` (called with a `HumanTaskInfo`), the
spiff-arena user helpers through a `UserDirectory` given to `use_directory`.
"""

from .arena_helpers import UserDirectory, use_directory
from .clock import Clock, ManualClock, SystemClock
from .errors import (
    Conflict,
    DefinitionError,
    EngineError,
    Forbidden,
    InvalidInput,
    NoSubscriber,
    NotFound,
    StoreBusy,
)
from .facade import Engine, TaskRouter
from .projections import HumanTaskInfo
from .retention import Retention
from .services import BpmnError, HandlerRegistry, ServiceContext

__all__ = [
    "BpmnError",
    "Clock",
    "Conflict",
    "DefinitionError",
    "Engine",
    "EngineError",
    "Forbidden",
    "HandlerRegistry",
    "HumanTaskInfo",
    "InvalidInput",
    "ManualClock",
    "NoSubscriber",
    "NotFound",
    "Retention",
    "ServiceContext",
    "StoreBusy",
    "SystemClock",
    "TaskRouter",
    "UserDirectory",
    "use_directory",
]
