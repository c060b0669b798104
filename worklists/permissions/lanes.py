"""Queue grants from the lane map: who works each queue and who supervises it.

The lane map (`processes/lanes.json`) already says which groups work each queue; repeating that
in the permission file would make two places to edit for a new queue. So each mapped queue
contributes two rules to the policy, named after their lanes:

- its `groups` may `work` the queue (narrowable: a task whose diagram names its own candidates is
  worked by those candidates only);
- its explicit `supervisors` may `supervise` it. Members are not supervisors of their own queue:
  routing or releasing a task a colleague picked is a supervisor's job, granted here or in the
  permission file (`supervise` on `queue:NAME`).

This function is the one place the queue-supervisor rule lives; change it here if that rule
changes.
"""

from __future__ import annotations

from ..routing import LaneMap
from .model import SUPERVISE, WORK, Rule


def lane_rules(lane_map: LaneMap) -> list[Rule]:
    """The queue rules the lane map implies (see the module docstring)."""
    source = f"lane map {lane_map.source}"
    rules: list[Rule] = []
    for info in lane_map.queues().values():
        lanes = ", ".join(repr(lane) for lane in info.lanes)
        resource = (f"queue:{info.name}",)
        if info.groups:
            rules.append(Rule(
                f"lane {lanes} works queue {info.name!r}", frozenset({WORK}), resource, frozenset(info.groups),
                source=source, narrowable=True,
            ))
        if info.supervisors:
            rules.append(Rule(
                f"lane {lanes} is supervised", frozenset({SUPERVISE}), resource, frozenset(info.supervisors),
                source=source,
            ))
    return rules
