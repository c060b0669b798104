"""crmflow's BPMN runtime on SpiffWorkflow. Knows nothing of CRM.

The `Engine` facade is the one way in; handlers plug in through a `HandlerRegistry`.
"""

from . import upstream  # noqa: F401 - SpiffWorkflow workarounds, applied on import
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
from .facade import Engine
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
    "InvalidInput",
    "ManualClock",
    "NoSubscriber",
    "NotFound",
    "ServiceContext",
    "StoreBusy",
    "SystemClock",
]
