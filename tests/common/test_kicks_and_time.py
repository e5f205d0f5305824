"""The after-commit kick helper and the business clock of api/common."""

from __future__ import annotations

import ast
import pathlib
from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import transaction

from api.common import businesstime, kicks
from workers.celery import app as celery_app

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture
def sent(monkeypatch):
    calls: list[tuple[str, list, float | None]] = []
    monkeypatch.setattr(celery_app, "send_task",
                        lambda name, args=None, expires=None: calls.append((name, args, expires)))
    return calls


@pytest.mark.django_db(transaction=True)
def test_a_kick_leaves_only_when_the_transaction_commits(sent):
    with transaction.atomic():
        kicks.task_kick_on_commit("workers.tasks.system.heartbeat", expires=5)
        assert sent == []  # a worker must not look for rows that are not committed yet
    assert sent == [("workers.tasks.system.heartbeat", [], 5)]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_change_sends_no_kick(sent):
    def failing_change() -> None:
        with transaction.atomic():
            kicks.task_kick_on_commit("workers.tasks.system.heartbeat")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_a_switched_off_kick_is_not_sent(sent, settings):
    settings.SOME_KICK = False
    kicks.task_kick_on_commit("workers.tasks.system.heartbeat", switch="SOME_KICK")
    assert sent == []


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_costs_a_warning_not_the_request(monkeypatch, caplog):
    def down(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr(celery_app, "send_task", down)
    kicks.task_kick_on_commit("workers.tasks.system.heartbeat")
    assert "could not queue workers.tasks.system.heartbeat" in caplog.text


def _kicked_task_names() -> set[str]:
    names = set()
    for path in (ROOT / "api").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None))
                    == "task_kick_on_commit" and node.args and isinstance(node.args[0], ast.Constant)):
                names.add(node.args[0].value)
    return names


def test_every_task_the_api_kicks_by_name_is_a_registered_task():
    import workers.tasks  # noqa: F401 - registers the tasks, as a worker does

    names = _kicked_task_names()
    assert names, "the API kicks its workers through task_kick_on_commit"
    assert names <= set(celery_app.tasks), names - set(celery_app.tasks)


def test_business_days_and_weeks_are_douala_days_and_monday_weeks():
    start, end = businesstime.week_bounds(date(2026, 11, 9))
    assert start.isoformat() == "2026-11-09T00:00:00+01:00"
    assert end - start == timedelta(days=7)
    assert businesstime.week_start(date(2026, 11, 15)) == date(2026, 11, 9)  # a Sunday
    day_start, day_end = businesstime.day_bounds(date(2026, 12, 2))
    assert day_start.astimezone(UTC) == datetime(2026, 12, 1, 23, 0, tzinfo=UTC)
    assert (day_end - day_start) == timedelta(days=1)
    assert businesstime.business_localtime(datetime.fromisoformat("2026-12-01T23:30:00+00:00")).date() \
        == date(2026, 12, 2)
