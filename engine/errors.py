"""Errors a caller of the engine can meet, each with a message a user can act on.

Every interface (CLI, HTTP, scheduler) maps these to its own way of saying no; none of
them is a bug, so none should ever surface as a traceback.
"""

from __future__ import annotations


class EngineError(Exception):
    """Base class: `str(err)` is one clear line naming the thing at fault."""

    code = "engine_error"


class NotFound(EngineError):
    """A process, instance, task, incident or message target does not exist."""

    code = "not_found"


class Conflict(EngineError):
    """The request lost a race or the target is no longer in the expected state."""

    code = "conflict"


class InvalidInput(EngineError):
    """Data given by the caller is malformed (bad JSON, wrong type, missing field)."""

    code = "invalid_input"


class DefinitionError(EngineError):
    """A diagram could not be loaded or deployed; the message names file and element."""

    code = "definition_error"


class NoSubscriber(EngineError):
    """A message was sent that no running instance or start event is waiting for."""

    code = "no_subscriber"


class Forbidden(EngineError):
    """The user may not act on this task."""

    code = "forbidden"


class StoreBusy(EngineError):
    """The database stayed locked by other work for longer than the busy timeout; retrying
    shortly will most likely succeed. `retry_after` is a hint in seconds."""

    code = "busy"
    retry_after = 5
