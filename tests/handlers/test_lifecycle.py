"""The transition tables: every lifecycle is consistent, and illegal moves are refused
with a message naming the record, its state and what it could do instead."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest

from handlers import lifecycle as lc
from handlers.errors import DomainError, IllegalTransition

NOW = datetime(2026, 1, 5, tzinfo=UTC)
ALL = [v for v in vars(lc).values() if isinstance(v, lc.Lifecycle)]


@dataclass
class Rec:
    state: str = ""
    status: str = ""
    created_at: datetime | None = None
    state_changed_at: datetime | None = None
    number: str | None = "X-1"

    @property
    def label(self) -> str:
        return self.number or "#1"


@pytest.mark.parametrize("life", ALL, ids=lambda life: life.kind)
def test_tables_only_name_known_states(life: lc.Lifecycle) -> None:
    for source, targets in life.moves.items():
        assert source in life.statuses
        assert targets <= set(life.statuses)
    assert all(life.statuses.values())


@pytest.mark.parametrize("life", ALL, ids=lambda life: life.kind)
def test_every_unlisted_move_is_illegal(life: lc.Lifecycle) -> None:
    for source in life.statuses:
        for target in life.statuses:
            rec = Rec()
            life.start(rec, NOW, source)
            allowed = target in life.moves.get(source, frozenset())
            status = next((st for st in life.statuses[target] if st != rec.status), None)
            if status is None:
                continue  # a single-status state cannot move to itself anyway
            if allowed:
                life.move(rec, target, status, NOW)
                assert (rec.state, rec.status) == (target, status)
            else:
                with pytest.raises(IllegalTransition, match=f"is {source}; it cannot move to {target}"):
                    life.move(rec, target, status, NOW)
                assert rec.state == source


def test_messages_name_the_record_and_the_rule() -> None:
    quote = Rec(number="Q-00012")
    lc.QUOTE.start(quote, NOW)
    with pytest.raises(IllegalTransition) as err:
        lc.QUOTE.require(quote, ["Active"], "won")
    assert str(err.value) == "quote Q-00012 is Draft; only an Active quote can be won"
    with pytest.raises(IllegalTransition) as err:
        lc.QUOTE.move(quote, "Won", None, NOW)
    assert str(err.value) == "quote Q-00012 is Draft; it cannot move to Won (from Draft it can move to Active, Closed)"
    lc.QUOTE.move(quote, "Active", "Open", NOW)
    lc.QUOTE.move(quote, "Won", None, NOW)
    with pytest.raises(IllegalTransition, match=r"\(Won is final\)"):
        lc.QUOTE.move(quote, "Closed", "Lost", NOW)


def test_status_must_belong_to_state() -> None:
    lead = Rec()
    lc.LEAD.start(lead, NOW)
    with pytest.raises(DomainError, match="'Won' is not a status reason of a Disqualified lead"):
        lc.LEAD.move(lead, "Disqualified", "Won", NOW)
    with pytest.raises(DomainError, match="lead has no state 'Paused'"):
        lc.LEAD.move(lead, "Paused", None, NOW)
    with pytest.raises(IllegalTransition, match=r"already Open \(New\)"):
        lc.LEAD.move(lead, "Open", "New", NOW)


def test_move_stamps_the_time() -> None:
    case = Rec()
    lc.CASE.start(case, NOW)
    later = datetime(2026, 2, 1, tzinfo=UTC)
    lc.CASE.move(case, "Resolved", "Problem Solved", later)
    assert (case.created_at, case.state_changed_at) == (NOW, later)
    lc.CASE.move(case, "Active", None, later)  # a reply reopens a resolved case
    assert case.status == "In Progress"
