"""The rooms behind the facade, one module per concern, each owning its SQL.

`engine.Engine` (engine/facade.py) is a thin front: each public method delegates in a line or
two to a function here, given the engine's shared state (`engine.core.EngineCore`):

- `deployments`: check, deploy, preview, versions, diagram sources, timer start schedules;
- `starting`: start instances, correlate messages, broadcast signals, and dispatch what a unit
  of work threw (every room runs units through `starting.run`, so thrown messages go out);
- `task_work`: complete, claim, release, route and comment on human tasks;
- `due_work`: the scheduler's tick — due timers, timer starts, automatic retries, async jobs;
- `migrating`: move running instances to another version;
- `reading`: instances, tasks, incidents, timers and history as plain views.

The operator's repairs live beside them in `engine/operations.py`, `modification.py` and
`retention.py`. Rooms import each other in one direction (deployments ← starting ← task_work,
due_work, migrating, operations; reading stands alone); nothing here imports the facade.
"""
