"""The shipment aggregate: its transitions, its idempotent steps, its illegal moves."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from logistic_service.domain.model import (
    FLOW,
    IllegalTransition,
    Shipment,
    ShipmentCancelled,
    ShipmentError,
    ShipmentStatus,
)

pytestmark = pytest.mark.unit

T0 = datetime(2025, 11, 21, 12, 0, tzinfo=UTC)
S = ShipmentStatus


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def a_shipment(status: ShipmentStatus = S.CREATED) -> Shipment:
    shipment = Shipment.for_order(42, submitted_by=uuid4(), now=T0)
    steps = {
        S.PICKED: [Shipment.pick],
        S.PACKED: [Shipment.pick, Shipment.pack],
        S.DISPATCHED: [Shipment.pick, Shipment.pack, Shipment.dispatch],
    }
    for step in steps.get(status, []):
        step(shipment, T0)
    return shipment


def test_a_new_shipment_is_named_after_its_order_and_created() -> None:
    submitted_by = uuid4()
    shipment = Shipment.for_order(42, submitted_by=submitted_by, now=T0)
    assert (shipment.shipment_id, shipment.order_id, shipment.status) == ("SHP-42", 42, S.CREATED)
    assert shipment.submit_event_id == submitted_by
    assert shipment.created_at == shipment.updated_at == T0
    assert not shipment.was_dispatched


def test_pick_pack_dispatch_in_order() -> None:
    shipment, statuses = a_shipment(), []
    for second, step in enumerate((Shipment.pick, Shipment.pack, Shipment.dispatch), start=1):
        assert step(shipment, at(second))
        statuses.append(shipment.status)
    assert statuses == [S.PICKED, S.PACKED, S.DISPATCHED]
    assert shipment.dispatched_at == shipment.updated_at == at(3)


@pytest.mark.parametrize("step", [Shipment.pick, Shipment.pack, Shipment.dispatch])
def test_a_step_already_passed_changes_nothing(step: Callable[[Shipment, datetime], bool]) -> None:
    shipment = a_shipment(S.DISPATCHED)
    assert step(shipment, at(60)) is False
    assert shipment.status is S.DISPATCHED and shipment.updated_at == T0


@pytest.mark.parametrize(
    ("status", "step"),
    [
        (S.CREATED, Shipment.pack),
        (S.CREATED, Shipment.dispatch),
        (S.PICKED, Shipment.dispatch),
    ],
)
def test_a_step_out_of_order_is_illegal(
    status: ShipmentStatus, step: Callable[[Shipment, datetime], bool]
) -> None:
    shipment = a_shipment(status)
    with pytest.raises(IllegalTransition, match=f"is {status.value}: it cannot become"):
        step(shipment, at(1))
    assert shipment.status is status


@pytest.mark.parametrize("status", [S.CREATED, S.PICKED, S.PACKED])
def test_a_chargeback_before_dispatch_cancels(status: ShipmentStatus) -> None:
    shipment, chargeback = a_shipment(status), uuid4()
    assert shipment.charge_back(chargeback, at(5))
    assert shipment.status is S.CANCELLED
    assert shipment.chargeback_event_id == chargeback and shipment.updated_at == at(5)
    assert not shipment.was_dispatched


@pytest.mark.parametrize("step", [Shipment.pick, Shipment.pack, Shipment.dispatch])
def test_a_cancelled_shipment_refuses_every_step(
    step: Callable[[Shipment, datetime], bool],
) -> None:
    shipment = a_shipment(S.PICKED)
    shipment.charge_back(uuid4(), at(5))
    with pytest.raises(ShipmentCancelled):
        step(shipment, at(6))
    assert shipment.status is S.CANCELLED


def test_a_chargeback_after_dispatch_opens_a_return() -> None:
    shipment = a_shipment(S.DISPATCHED)
    assert shipment.charge_back(uuid4(), at(5))
    assert shipment.status is S.RETURN_OPENED
    assert shipment.was_dispatched and shipment.dispatched_at == T0
    # a re-run of the chain (a crash after dispatch) finds every step done
    assert not shipment.dispatch(at(6)) and shipment.status is S.RETURN_OPENED


@pytest.mark.parametrize("status", [S.PACKED, S.DISPATCHED])
def test_a_second_chargeback_changes_nothing(status: ShipmentStatus) -> None:
    shipment, first = a_shipment(status), uuid4()
    shipment.charge_back(first, at(5))
    stopped = shipment.status
    assert shipment.charge_back(uuid4(), at(9)) is False
    assert (shipment.status, shipment.chargeback_event_id, shipment.updated_at) == (
        stopped,
        first,
        at(5),
    )


@pytest.mark.parametrize(
    ("status", "idle", "stuck"),
    [
        (S.CREATED, 61, True),
        (S.PICKED, 61, True),
        (S.PACKED, 61, True),
        (S.CREATED, 59, False),
        (S.PACKED, 60, False),
        (S.DISPATCHED, 3600, False),
        (S.CANCELLED, 3600, False),
    ],
)
def test_stuck_means_warehouse_work_left_and_idle(
    status: ShipmentStatus, idle: float, stuck: bool
) -> None:
    if status is S.CANCELLED:
        shipment = a_shipment()
        shipment.charge_back(uuid4(), T0)
    else:
        shipment = a_shipment(status)
    now = at(idle)
    assert shipment.is_stuck(idle_since=now - timedelta(seconds=60)) is stuck


def test_resuming_counts_as_activity_and_only_applies_in_the_warehouse() -> None:
    shipment = a_shipment(S.PICKED)
    shipment.resume(at(61))
    assert shipment.updated_at == at(61) and shipment.status is S.PICKED
    with pytest.raises(ShipmentError, match="nothing to resume"):
        a_shipment(S.DISPATCHED).resume(at(61))


OPERATIONS = st.lists(st.sampled_from(["pick", "pack", "dispatch", "charge_back"]), max_size=12)


@given(OPERATIONS)
def test_any_sequence_keeps_the_invariants(operations: list[str]) -> None:
    shipment, seen = a_shipment(), [S.CREATED]
    for index, name in enumerate(operations):
        now = at(index + 1)
        try:
            if name == "charge_back":
                shipment.charge_back(uuid4(), now)
            else:
                getattr(shipment, name)(now)
        except IllegalTransition:
            pass
        seen.append(shipment.status)
    # dispatched_at is set exactly when the shipment left the warehouse
    assert shipment.was_dispatched == (shipment.status in (S.DISPATCHED, S.RETURN_OPENED))
    # never backwards: along the main line, and nothing after cancelled or return_opened
    line = [FLOW.index(s) for s in seen if s is not S.CANCELLED]
    assert line == sorted(line)
    for final in (S.CANCELLED, S.RETURN_OPENED):
        if final in seen:
            assert set(seen[seen.index(final) :]) == {final}
