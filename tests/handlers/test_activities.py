"""Activities: logged regarding an existing record, Open → Completed | Canceled."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from handlers import activities as a
from handlers.errors import DomainError, IllegalTransition, RecordNotFound
from handlers.models import Activity
from handlers.sales.leads import capture_lead


def test_log_complete_and_cancel(crm) -> None:  # noqa: ANN001
    lead = crm.call(capture_lead, email="a@example.com")
    call = crm.call(
        a.log_activity,
        activity_type="phone_call",
        subject="Intro call",
        regarding_type="lead",
        regarding_id=lead["lead_id"],
        direction="outgoing",
    )
    assert (call["state"], call["status"], call["regarding_id"]) == ("Open", "Open", lead["lead_id"])
    done = crm.call(a.complete_activity, activity_id=call["activity_id"], status="Made")
    assert (done["state"], done["status"]) == ("Completed", "Made")
    with pytest.raises(IllegalTransition, match="is Completed; only an Open activity can be canceled"):
        crm.call(a.cancel_activity, activity_id=call["activity_id"])
    task = crm.call(a.log_activity, activity_type="task", subject="Send brochure")
    assert crm.call(a.cancel_activity, activity_id=task["activity_id"])["state"] == "Canceled"
    already = crm.call(a.log_activity, activity_type="email", subject="Sent", completed=True)
    assert already["state"] == "Completed"
    with crm.session() as ses:
        assert ses.get(Activity, call["activity_id"]).completed_at == crm.now


def test_bad_activities_are_refused(crm) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match="activity type must be one of"):
        crm.call(a.log_activity, activity_type="telegram", subject="x")
    with pytest.raises(DomainError, match="regarding type must be one of"):
        crm.call(a.log_activity, activity_type="task", subject="x", regarding_type="invoice", regarding_id=1)
    with pytest.raises(RecordNotFound, match="case 5 does not exist"):
        crm.call(a.log_activity, activity_type="task", subject="x", regarding_type="case", regarding_id=5)
    with pytest.raises(DomainError, match="both a record type and an id"):
        crm.call(a.log_activity, activity_type="task", subject="x", regarding_type="lead")
    task = crm.call(a.log_activity, activity_type="task", subject="x")
    with pytest.raises(DomainError, match="'Canceled' is not a status reason of a Completed activity"):
        crm.call(a.complete_activity, activity_id=task["activity_id"], status="Canceled")


def test_log_activity_is_idempotent(crm) -> None:  # noqa: ANN001
    first = crm.call(a.log_activity, task_id="k", activity_type="task", subject="x")
    assert crm.call(a.log_activity, task_id="k", activity_type="task", subject="x") == first
    with crm.session() as ses:
        assert ses.scalar(select(func.count()).select_from(Activity)) == 1
