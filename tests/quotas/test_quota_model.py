"""`handlers.quotas`: setting (upsert), refusing what makes no sense, listing, periods by name."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from quota_support import NOW
from sqlalchemy import inspect, select

import handlers
from engine.db import Database
from handlers import quotas
from handlers.errors import DomainError
from handlers.models.sales import SalesQuota


def set_q(eng, owner="ann", start=date(2026, 4, 1), end=date(2026, 6, 30), target="50000", **kw):  # noqa: ANN001
    with eng.db.write() as session:
        return quotas.quota_view(quotas.set_quota(session, owner, start, end, target, kw.pop("now", NOW), **kw))


def all_quotas(eng) -> list[dict]:  # noqa: ANN001
    with eng.db.read() as session:
        return [quotas.quota_view(q) for q in quotas.list_quotas(session)]


def test_set_creates_then_the_same_start_changes_it(qeng) -> None:
    first = set_q(qeng, target=50000, team="East")
    assert first["target"] == "50000.00" and first["period"] == "2026-Q2" and first["updated_at"] is None
    assert first["created_at"] == NOW.isoformat()
    later = NOW + timedelta(days=1)
    again = set_q(qeng, end=date(2026, 5, 31), target=Decimal("61000.50"), team=None, now=later)
    assert again["id"] == first["id"]
    assert (again["target"], again["period_end"], again["team"]) == ("61000.50", "2026-05-31", None)
    assert again["period"] == "2026-04-01..2026-05-31" and again["updated_at"] == later.isoformat()
    assert len(all_quotas(qeng)) == 1


def test_list_orders_by_period_team_owner_and_filters(qeng) -> None:
    set_q(qeng, "zoe", team="East")
    set_q(qeng, "bob", team="West")
    set_q(qeng, "amy", team="West")
    set_q(qeng, "ann", date(2026, 1, 1), date(2026, 3, 31), "100", team="East")
    set_q(qeng, "abe")
    listed = [(q["period"], q["team"], q["owner"]) for q in all_quotas(qeng)]
    assert listed == [("2026-Q1", "East", "ann"), ("2026-Q2", "East", "zoe"), ("2026-Q2", "West", "amy"),
                      ("2026-Q2", "West", "bob"), ("2026-Q2", None, "abe")]
    with qeng.db.read() as session:
        assert [q.owner for q in quotas.list_quotas(session, team="West")] == ["amy", "bob"]
        assert [q.owner for q in quotas.list_quotas(session, owner=" ann ")] == ["ann"]
        assert [q.owner for q in quotas.list_quotas(session, on=date(2026, 3, 31))] == ["ann"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"end": date(2026, 4, 1)}, "period end 2026-04-01 must be after its start 2026-04-01"),
    ({"end": date(2026, 3, 1)}, "must be after its start"),
    ({"target": "-1"}, "quota target must be at least 0"),
    ({"target": "lots"}, "quota target must be a number, not 'lots'"),
    ({"target": "10.005"}, "more than two decimal places"),
    ({"target": "1e13"}, "quota target must be at most"),
    ({"owner": "  "}, "a quota needs an owner"),
    ({"owner": "x" * 151}, "longer than 150 characters"),
    ({"team": 7}, "quota team must be text"),
    ({"start": "April"}, "quota period start must be a date"),
])
def test_set_refuses_with_a_clear_message(qeng, kwargs, message) -> None:  # noqa: ANN001
    with pytest.raises(DomainError, match=message.replace("(", r"\(").replace(")", r"\)")):
        set_q(qeng, **kwargs)
    assert all_quotas(qeng) == []  # nothing half-written


def test_overlapping_period_of_the_same_owner_is_refused(qeng) -> None:
    set_q(qeng)  # 2026-Q2
    with pytest.raises(DomainError, match=r"ann already has a quota for 2026-Q2 \(2026-04-01 to 2026-06-30\)"):
        set_q(qeng, start=date(2026, 6, 1), end=date(2026, 8, 31))
    with pytest.raises(DomainError, match="overlaps"):
        set_q(qeng, start=date(2026, 1, 1), end=date(2026, 4, 1))
    set_q(qeng, start=date(2026, 7, 1), end=date(2026, 9, 30))  # the next quarter touches, does not overlap
    set_q(qeng, "bob", start=date(2026, 5, 1), end=date(2026, 5, 31))  # another owner may
    assert len(all_quotas(qeng)) == 3


def test_strings_and_datetimes_are_accepted_and_names_trimmed(qeng) -> None:
    view = set_q(qeng, owner=" ann ", start="2026-04-01", end=datetime(2026, 6, 30, 23, 0), target=" 7 ",
                 team=" East ")
    assert (view["owner"], view["team"], view["period"], view["target"]) == ("ann", "East", "2026-Q2", "7.00")


@pytest.mark.parametrize(("text", "start", "end"), [
    ("2026-Q1", date(2026, 1, 1), date(2026, 3, 31)),
    ("2026-q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
    ("2026-12", date(2026, 12, 1), date(2026, 12, 31)),
    ("2026", date(2026, 1, 1), date(2026, 12, 31)),
])
def test_periods_by_name_and_back(text: str, start: date, end: date) -> None:
    period = quotas.parse_period(text)
    assert (period.start, period.end) == (start, end)
    assert period.label == text.upper()


@pytest.mark.parametrize("text", ["2026-Q5", "2026-13", "Q1", "26-Q1", "2026-Q1-x"])
def test_bad_period_names(text: str) -> None:
    with pytest.raises(DomainError, match="period"):
        quotas.parse_period(text)


def test_revision_0005_adds_owner_and_quota_table_and_downgrade_removes_them(tmp_path) -> None:  # noqa: ANN001
    from alembic import command

    from engine.db import alembic_config

    url = f"sqlite:///{tmp_path / 'q.db'}"
    db = Database(url, migrations=[handlers.MIGRATIONS])
    db.upgrade("0004_pg_search")
    assert "owner" not in {c["name"] for c in inspect(db.write_engine).get_columns("crm_opportunity")}
    db.upgrade()
    insp = inspect(db.write_engine)
    assert "crm_sales_quota" in insp.get_table_names()
    assert "owner" in {c["name"] for c in insp.get_columns("crm_opportunity")}
    assert "ix_crm_opportunity_owner" in {i["name"] for i in insp.get_indexes("crm_opportunity")}
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("crm_sales_quota")}
    assert ("owner", "period_start") in uniques
    with db.write_engine.begin() as conn:
        cfg = alembic_config(url, [handlers.MIGRATIONS])
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0004_pg_search")
    insp = inspect(db.write_engine)
    assert "crm_sales_quota" not in insp.get_table_names()
    assert "owner" not in {c["name"] for c in insp.get_columns("crm_opportunity")}
    db.dispose()


def test_unique_owner_and_start_is_enforced_by_the_database(qeng) -> None:
    from sqlalchemy.exc import IntegrityError

    set_q(qeng)
    with pytest.raises(IntegrityError), qeng.db.write() as session:
        session.add(SalesQuota(owner="ann", period_start=date(2026, 4, 1), period_end=date(2026, 4, 30),
                               target=Decimal(1), created_at=NOW))
        session.flush()
    with qeng.db.read() as session:
        assert session.scalars(select(SalesQuota)).one().period_end == date(2026, 6, 30)
