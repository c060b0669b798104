"""Who may see and do what: one permission model, enforced in one layer.

- `model`: verbs, resource types (`process:`, `instances:`, `queue:`, `reports:`, `records:`,
  `message:`, `admin:`), rules and decisions;
- `policy`: the permission file (`processes/permissions.yml`, `$CRMFLOW_PERMISSIONS`), validated;
- `lanes`: the queue rules the lane map implies (who works and supervises each queue);
- `authorizer`: `Authorizer.require/allows/decide/filter_names/sql_filter`, `PermissionDenied`;
- `instances`: instance checks by process or involvement, filtered instance lists;
- `routes`: `Guard` — how every route declares (and gets) its permission;
- `audit`: the audit log of permission changes and refused admin attempts.

See docs/permissions.md.
"""

from .authorizer import Authorizer, PermissionDenied, check_request
from .model import (
    ADMINISTER,
    DEPLOY,
    EDIT,
    OPERATE,
    READ,
    READ_DATA,
    RESOURCE_TYPES,
    SEND,
    START,
    SUPERVISE,
    VERBS,
    WORK,
    Decision,
    Principals,
    Rule,
)
from .policy import PERMISSIONS_ENV, PermissionFileError, Policy

__all__ = [
    "ADMINISTER", "DEPLOY", "EDIT", "OPERATE", "PERMISSIONS_ENV", "READ", "READ_DATA", "RESOURCE_TYPES", "SEND",
    "START", "SUPERVISE", "VERBS", "WORK", "Authorizer", "Decision", "PermissionDenied", "PermissionFileError",
    "Policy", "Principals", "Rule", "check_request",
]
