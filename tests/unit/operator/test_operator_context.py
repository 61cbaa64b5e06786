"""The one typed context the handlers share: built once at startup, the only thing in
kopf's memo, and no handler module keeps state of its own beside it."""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil

import kopf
import mlops_operator.handlers as handlers
import pytest
from mlops_operator import main
from mlops_operator.handlers import alerts
from mlops_operator.handlers.context import MEMO_KEY, context_of, install

from tests.unit.operator.fake_kube import FakeKube, fake_context

HANDLER_MODULES = sorted(info.name for info in pkgutil.iter_modules(handlers.__path__))


def test_a_handler_without_a_context_says_startup_did_not_run() -> None:
    with pytest.raises(RuntimeError, match="main.configure has not run"):
        context_of(kopf.Memo())


def test_install_keeps_the_first_context() -> None:
    memo = kopf.Memo()
    first = install(memo, fake_context(FakeKube()))
    assert install(memo, fake_context(FakeKube())) is first
    assert context_of(memo) is first and list(memo) == [MEMO_KEY]


def test_startup_builds_one_context_and_the_receiver_serves_its_alert_table(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLOPS_ALERT_WEBHOOK_PORT", "0")  # any free port
    monkeypatch.setenv("MLOPS_METRICS_PORT", "0")  # no /metrics server
    monkeypatch.setattr(main, "Kube", FakeKube)
    level = logging.getLogger("kopf.objects").level
    memo = kopf.Memo()
    try:
        main.configure(settings=kopf.OperatorSettings(), memo=memo)
        ctx = context_of(memo)
        main.configure(settings=kopf.OperatorSettings(), memo=memo)  # kopf retried startup
    finally:
        logging.getLogger("kopf.objects").setLevel(level)
    assert context_of(memo) is ctx and list(memo) == [MEMO_KEY]
    assert isinstance(ctx.kube, FakeKube)

    async def serve_then_stop() -> tuple[int, int]:
        await main.start_alert_receiver(memo=memo, retrain_targets={})
        started = len(ctx.cleanups)
        await alerts.stop_receiver(memo=memo)
        return started, len(ctx.cleanups)

    # The receiver, the audit trail's and the notifications' senders, each once; all stopped.
    assert asyncio.run(serve_then_stop()) == (3, 0)


@pytest.mark.parametrize("name", HANDLER_MODULES)
def test_no_handler_module_keeps_mutable_state_of_its_own(name: str) -> None:
    """Caches and queues belong in the context, where a test can start them empty."""
    module = importlib.import_module(f"{handlers.__name__}.{name}")
    private = {key: type(value).__name__ for key, value in vars(module).items()
               if key.startswith("_") and not key.startswith("__")
               and isinstance(value, dict | list | set)}
    assert private == {}


def test_the_handler_modules_are_all_checked() -> None:
    assert {"deployment", "retrain", "watches", "alerts", "context"} <= set(HANDLER_MODULES)
