"""Metrics (issue 27): a worker and the bot process each serve /metrics on a port of their own; a
noop job moves the job counters; the conversation counts verdicts, payments and rate limits; names
carry their units and no label can name a person."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

import telemetry.metrics  # noqa: F401 - every metric registered
from bot.core.replies import IncomingFile
from bot.core.studio import Studio
from config.settings import Settings
from db import payments
from db.session import Database
from db.storage import LocalStorage
from engine.runtime.backends.local import LocalBackend
from engine.runtime.handlers.context import EngineOptions
from engine.runtime.health import worker_server
from engine.runtime.worker import Worker, WorkerConfig
from tests.core.conftest import ALEX, agreed, make_studio, with_model  # noqa: F401 - the core's fixture
from tests.operator.scrape import free_port, get, scrape, value
from tests.runtime.helpers import enqueue_noop, make_user
from tests.support.selfies import obama_selfies

FAST = WorkerConfig(lease_seconds=5, tick_seconds=0.1, idle_seconds=0.05, reap_seconds=0.5)


@pytest.fixture
async def worker(sqlite_database: Database, tmp_path: Path) -> AsyncIterator[Worker]:
    backend = LocalBackend()
    yield Worker(sqlite_database, LocalStorage(tmp_path / "storage"), backend, config=FAST, worker_id="metrics",
                 options=EngineOptions(work_dir=tmp_path / "work"))
    await backend.close()


def settings_for(tmp_path: Path, **values: object) -> Settings:
    return Settings(_env_file=None, data_dir=tmp_path / "data", metrics_host="127.0.0.1", **values)  # type: ignore[arg-type]


async def test_a_worker_serves_metrics_and_a_noop_job_moves_the_job_counters(
        sqlite_database: Database, worker: Worker, tmp_path: Path) -> None:
    server = worker_server(settings_for(tmp_path), worker, sqlite_database, worker.storage, port=0)
    port = await server.start()
    try:
        before = await scrape(port)
        user = await make_user(sqlite_database, free=5)
        await enqueue_noop(sqlite_database, user, steps=2, result_key=f"users/{user}/out/result.json")
        await enqueue_noop(sqlite_database, user, fail="boom")
        queued = await scrape(port)  # the queue gauges are read from the database when scraped
        assert value(queued, "studio_jobs", kind="noop", state="queued") == 2
        assert value(queued, "studio_queue_oldest_job_age_seconds", kind="noop") >= 0
        assert (await worker.run_next()).state == "succeeded"  # type: ignore[union-attr]
        assert (await worker.run_next()).state == "failed"  # type: ignore[union-attr]
        after = await scrape(port)
    finally:
        await server.stop()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("studio_jobs_finished_total", kind="noop", outcome="succeeded") == 1
    assert moved("studio_jobs_finished_total", kind="noop", outcome="failed") == 1
    assert moved("studio_job_failures_total", kind="noop", code="internal_error") == 1
    assert moved("studio_job_refunds_total", kind="noop", reason="failed") == 1
    assert moved("studio_job_queue_wait_seconds_count", kind="noop") == 2
    assert moved("studio_job_duration_seconds_count", kind="noop", outcome="succeeded") == 1
    assert moved("studio_stage_duration_seconds_count", stage="upload") == 1  # the result stored
    assert value(after, "studio_jobs", kind="noop", state="queued") == 0
    assert value(after, "studio_worker_running_jobs") == 0 and value(after, "studio_worker_heartbeat_age_seconds") == 0
    assert ("studio_model_cache_models", ()) in after


async def test_studio_worker_alone_serves_on_studio_metrics_port(sqlite_database: Database, tmp_path: Path) -> None:
    """`studio worker` (worker_cli.serve) with STUDIO_METRICS_PORT: /metrics, /livez, /readyz while it works."""
    from engine.runtime.worker_cli import serve

    port = free_port()
    settings = settings_for(tmp_path, database_url=sqlite_database.url, metrics_port=port)
    user = await make_user(sqlite_database, free=2)
    await enqueue_noop(sqlite_database, user, seconds=1.5, steps=15)
    worker = asyncio.create_task(serve(settings, once=True, worker_id="alone", preload=False, idle_seconds=0.05))
    try:
        for _ in range(200):
            try:
                status, _ = await get(port, "/livez")
                break
            except OSError:
                await asyncio.sleep(0.02)
        assert status == 200
        assert (await get(port, "/readyz"))[0] == 200
        for _ in range(200):  # queued, then claimed: the gauges follow the database
            if value(await scrape(port), "studio_jobs", kind="noop", state="running") == 1:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the running job never showed in studio_jobs")
        assert await asyncio.wait_for(worker, 30) == 1
    finally:
        if not worker.done():
            worker.cancel()
    with pytest.raises(OSError):  # the server stops with the worker
        await get(port, "/metrics")


async def test_the_conversation_counts_verdicts_payments_and_rate_limits(make_studio) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = make_studio(credit_packs="small:10:250", commands_per_minute=3)
    before = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in REGISTRY.collect() for s in f.samples}

    def moved(name: str, **labels: str) -> float:
        now = {(s.name, tuple(sorted(s.labels.items()))): s.value for f in REGISTRY.collect() for s in f.samples}
        return value(now, name, **labels) - value(before, name, **labels)

    await agreed(studio)
    await studio.photos(ALEX, [IncomingFile(data, f"selfie{i}.jpg") for i, data in enumerate(obama_selfies(2))]
                        + [IncomingFile(b"not a photo", "notes.jpg")])
    assert moved("studio_photo_verdicts_total", verdict="accepted") == 2
    assert sum(moved("studio_photo_verdicts_total", verdict=code) for code in ("not_an_image", "unreadable", "corrupt")) == 1
    charge = payments.Charge(platform="telegram", external_id="ch-m1", platform_user_id=ALEX.user_id, pack_id="small",
                             credits=10, amount=250, currency="XTR")
    await studio.paid(ALEX, charge)
    await studio.paid(ALEX, charge)  # delivered again: counted once
    assert moved("studio_credits_sold_total", platform="telegram") == 10
    assert moved("studio_payments_total", platform="telegram") == 1
    assert moved("studio_stars_received_total") == 250
    await studio.refunded(ALEX, "ch-m1")
    assert moved("studio_payment_refunds_total", platform="telegram") == 1
    assert moved("studio_credits_taken_back_total", platform="telegram") == 10
    for _ in range(5):
        await studio.command(ALEX, "credits")
    assert moved("studio_rate_limited_requests_total", platform="telegram", limit="commands") >= 1


def test_delivered_portraits_are_observed_once_each_with_their_likeness() -> None:
    from bot.core.notifier import observe_delivered

    def count() -> float:
        return REGISTRY.get_sample_value("studio_delivered_portrait_likeness_ratio_count") or 0.0

    def shortfalls() -> float:
        return REGISTRY.get_sample_value("studio_job_refunds_total", {"kind": "generate",
                                                                      "reason": "likeness_shortfall"}) or 0.0

    start, refunds = count(), shortfalls()
    images = [{"index": 0, "aspect": a, "likeness": 92} for a in ("9:16", "1:1")] + [{"index": 1, "likeness": 61}]
    observe_delivered({"images": images}, refunded=1)
    assert count() - start == 2 and shortfalls() - refunds == 1


# --- conventions ----------------------------------------------------------------------------------------

UNITS = ("_seconds", "_bytes", "_ratio", "_total")
#: gauges of things counted, whose unit is the thing (Prometheus: a count needs no unit suffix)
COUNTS = {"studio_jobs", "studio_model_cache_models", "studio_worker_running_jobs", "studio_ready"}
#: label names that could name a person, a chat or one job (unbounded cardinality)
PERSONAL = {"user", "user_id", "account", "account_id", "chat", "chat_id", "job", "job_id", "charge", "charge_id",
            "name", "username", "id", "correlation_id", "error_id", "key"}


def studio_families() -> list:  # type: ignore[type-arg]
    return [family for family in REGISTRY.collect() if family.name.startswith("studio_")]


def test_metric_names_carry_their_units() -> None:
    families = studio_families()
    assert len(families) >= 20
    for family in families:
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
        elif family.type == "histogram":
            assert family.name.endswith(("_seconds", "_bytes", "_ratio")), family.name
        else:
            assert family.name in COUNTS or family.name.endswith(UNITS), family.name


def test_no_label_names_a_person() -> None:
    labels = {name for family in studio_families() for sample in family.samples for name in sample.labels}
    # the labelled metrics declare their names even before a sample exists
    declared = {name for collector in list(REGISTRY._collector_to_names)  # noqa: SLF001
                for name in getattr(collector, "_labelnames", ())
                if any(n.startswith("studio_") for n in REGISTRY._collector_to_names[collector])}  # noqa: SLF001
    assert declared, "no labelled metric found"
    for name in labels | declared:
        assert name not in PERSONAL and not name.endswith("_id"), name
    assert declared <= {"kind", "state", "outcome", "code", "reason", "stage", "device", "verdict", "platform",
                        "limit", "le"}


def test_the_dashboard_asks_only_for_metrics_that_exist() -> None:
    import json
    import re

    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy/grafana/portrait-studio.json").read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    assert len(exprs) >= 15 and dashboard["__inputs"][0]["pluginId"] == "prometheus"
    known = {family.name for family in studio_families()}
    asked = {re.sub(r"_(bucket|count|sum|total)$", "", name) for expr in exprs for name in re.findall(r"studio_\w+", expr)}
    assert asked - known == set()
    assert {"studio_jobs", "studio_job_failures", "studio_stage_duration_seconds", "studio_gpu_memory_allocated_bytes",
            "studio_worker_heartbeat_age_seconds"} <= asked


def test_gpu_memory_is_read_only_where_torch_has_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CUDA worker reports each device's memory; a CPU worker (or one without torch) reports none."""
    import sys
    from types import SimpleNamespace

    from engine.runtime.health import gpu_memory

    cuda = SimpleNamespace(is_available=lambda: True, device_count=lambda: 2,
                           memory_allocated=lambda i: 1_000 * (i + 1), memory_reserved=lambda i: 4_000 * (i + 1))
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=cuda))
    gpu_memory()
    assert REGISTRY.get_sample_value("studio_gpu_memory_allocated_bytes", {"device": "cuda:1"}) == 2_000
    assert REGISTRY.get_sample_value("studio_gpu_memory_reserved_bytes", {"device": "cuda:0"}) == 4_000
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(cuda=SimpleNamespace(is_available=lambda: False)))
    gpu_memory()  # nothing to read, nothing raised


async def test_a_paid_job_cancelled_while_it_waits_counts_as_refunded(make_studio) -> None:  # type: ignore[no-untyped-def]
    studio: Studio = make_studio()

    def refunds() -> float:
        return REGISTRY.get_sample_value("studio_job_refunds_total", {"kind": "generate", "reason": "cancelled"}) or 0.0

    before = refunds()
    await with_model(studio)
    await studio.action(ALEX, "style:dating-profile", source_message_id="1")
    await studio.command(ALEX, "cancel")
    assert refunds() - before == 1
