"""The payments ledger on SQLite and on a real PostgreSQL: a charge is credited once, however many
times and by however many processes it is delivered; a refund takes back what it may, once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from db import credits, payments
from db.models import CreditEntry, Payment, PaymentState
from db.session import Database
from db.users import delete_user, get_or_create_user


async def make_user(database: Database, uid: str = "100", free: int = 0) -> int:
    async with database.transaction() as session:
        user, _ = await get_or_create_user(session, "telegram", uid, free_credits=free)
        return user.id


def charge(external_id: str = "stx-1", credits_: int = 10, uid: str = "100") -> payments.Charge:
    return payments.Charge("telegram", external_id, uid, "small", credits_, amount=250, currency="XTR")


async def credit(database: Database, user_id: int, the_charge: payments.Charge) -> payments.Credited:
    async with database.transaction() as session:
        return await payments.credit(session, the_charge, user_id=user_id)


async def state(database: Database, user_id: int) -> tuple[int, int, int]:
    """(balance, the ledger's sum, payment rows)"""
    async with database.transaction() as session:
        rows = await session.scalar(select(func.count()).select_from(Payment))
        return await credits.balance(session, user_id), await credits.ledger_sum(session, user_id), rows or 0


async def test_a_charge_delivered_twice_is_credited_once(database: Database) -> None:
    user = await make_user(database, free=3)
    first = await credit(database, user, charge())
    again = await credit(database, user, charge())
    assert first.new and first.balance == 13
    assert not again.new and again.payment_id == first.payment_id and again.balance == 13
    assert await state(database, user) == (13, 13, 1)
    async with database.transaction() as session:
        entries = (await session.scalars(select(CreditEntry).where(CreditEntry.reason == "purchase"))).all()
        assert [(e.delta, e.idempotency_key) for e in entries] == [(10, f"payment:{first.payment_id}")]


async def test_racing_deliveries_of_one_charge_credit_once_and_fail_nobody(database: Database) -> None:
    user = await make_user(database)
    results = await asyncio.gather(*(credit(database, user, charge()) for _ in range(12)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sum(r.new for r in results) == 1  # type: ignore[union-attr]
    assert await state(database, user) == (10, 10, 1)


@pytest.mark.postgres
async def test_racing_processes_credit_one_charge_once_on_postgres(postgres_server) -> None:
    from tests.conftest import _fresh_postgres_url

    url = await _fresh_postgres_url(postgres_server)
    first = Database(url)
    await first.migrate()
    user = await make_user(first)
    databases = [Database(url) for _ in range(8)]  # eight engines: eight bot processes
    try:
        results = await asyncio.gather(*(credit(d, user, charge()) for d in databases), return_exceptions=True)
        assert [r for r in results if isinstance(r, BaseException)] == []
        assert sum(r.new for r in results) == 1  # type: ignore[union-attr]
        assert await state(first, user) == (10, 10, 1)
    finally:
        await asyncio.gather(*(d.dispose() for d in databases))
        await first.dispose()


async def test_racing_different_purchases_all_count(database: Database) -> None:
    user = await make_user(database)
    await asyncio.gather(*(credit(database, user, charge(f"stx-{n}", 5)) for n in range(10)))
    assert await state(database, user) == (50, 50, 10)


async def test_a_refund_takes_the_credits_back_once(database: Database) -> None:
    user = await make_user(database, free=2)
    await credit(database, user, charge())
    async with database.transaction() as session:
        plan = await payments.plan_refund(session, "telegram", "stx-1", allow_negative=False)
        assert (plan.credits, plan.balance, plan.platform_user_id) == (10, 12, "100")
        done = await payments.record_refund(session, "telegram", "stx-1")
        assert done is not None and (done.taken_back, done.shortfall, done.balance) == (10, 0, 2)
    async with database.transaction() as session:
        assert await payments.record_refund(session, "telegram", "stx-1") is None
        with pytest.raises(payments.AlreadyRefunded):
            await payments.plan_refund(session, "telegram", "stx-1", allow_negative=True)
        payment = await payments.find(session, "telegram", "stx-1")
        assert payment is not None and payment.state == PaymentState.refunded and payment.refunded_at is not None
    assert await state(database, user) == (2, 2, 1)


async def test_spent_credits_stop_a_refund_unless_the_operator_allows_it(database: Database) -> None:
    user = await make_user(database)
    await credit(database, user, charge())
    async with database.transaction() as session:
        await credits.grant(session, user, -7, reason="spent")
    async with database.transaction() as session:
        with pytest.raises(payments.CreditsSpent) as refused:
            await payments.plan_refund(session, "telegram", "stx-1", allow_negative=False)
        assert (refused.value.credits_bought, refused.value.balance) == (10, 3)
        await payments.plan_refund(session, "telegram", "stx-1", allow_negative=True)
        done = await payments.record_refund(session, "telegram", "stx-1")
        assert done is not None and (done.taken_back, done.shortfall, done.balance) == (3, 7, 0)
    async with database.transaction() as session:
        payment = await payments.find(session, "telegram", "stx-1")
        assert payment is not None and payment.credits_taken_back == 3
    assert await state(database, user) == (0, 0, 1)


async def test_payments_outlive_the_buyers_deletion(database: Database) -> None:
    user = await make_user(database)
    await credit(database, user, charge())
    async with database.transaction() as session:
        assert await delete_user(session, user)
    async with database.transaction() as session:
        payment = await payments.find(session, "telegram", "stx-1")
        assert payment is not None and payment.user_id is None and payment.platform_user_id == "100"
        done = await payments.record_refund(session, "telegram", "stx-1")
        assert done is not None and done.taken_back == 0 and done.shortfall == 10
        assert [p.external_id for p in await payments.since(session)] == ["stx-1"]


async def test_an_operators_refund_leaves_telling_the_buyer_to_the_platforms_notice_once(database: Database) -> None:
    """The operator's refund is recorded first (without a word to the buyer); the platform's notice
    that follows finds it recorded and tells the buyer, once however many notices come."""
    user = await make_user(database, free=2)
    await credit(database, user, charge())
    async with database.transaction() as session:
        done = await payments.record_refund(session, "telegram", "stx-1", tell_buyer=False)
        assert done is not None and (done.taken_back, done.balance) == (10, 2)
    async with database.transaction() as session:
        assert await payments.record_refund(session, "telegram", "stx-1", tell_buyer=False) is None
    async with database.transaction() as session:
        notice = await payments.record_refund(session, "telegram", "stx-1")  # the platform's notice
        assert notice is not None and (notice.credits, notice.taken_back, notice.balance) == (10, 10, 2)
    async with database.transaction() as session:
        assert await payments.record_refund(session, "telegram", "stx-1") is None  # and again: told already
    assert await state(database, user) == (2, 2, 1)


async def test_racing_refund_notices_tell_the_buyer_once(database: Database) -> None:
    user = await make_user(database)
    await credit(database, user, charge())
    async with database.transaction() as session:
        await payments.record_refund(session, "telegram", "stx-1", tell_buyer=False)

    async def notice() -> payments.Refunded | None:
        async with database.transaction() as session:
            return await payments.record_refund(session, "telegram", "stx-1")

    results = await asyncio.gather(*(notice() for _ in range(8)), return_exceptions=True)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sum(r is not None for r in results) == 1
    assert await state(database, user) == (0, 0, 1)


async def test_a_payment_not_matching_its_pack_is_recorded_once_without_credits_and_can_be_refunded(
        database: Database) -> None:
    user = await make_user(database, free=2)
    cheap = payments.Charge("telegram", "stx-cheap", "100", "small", 0, amount=1, currency="XTR")
    async with database.transaction() as session:
        assert await payments.record_unmatched(session, cheap, user_id=user)
    async with database.transaction() as session:
        assert not await payments.record_unmatched(session, cheap, user_id=user)  # delivered again
        payment = await payments.find(session, "telegram", "stx-cheap")
        assert payment is not None
        assert (payment.state, payment.credits, payment.amount) == (PaymentState.unmatched, 0, 1)
        again = await payments.credit(session, charge("stx-cheap"), user_id=user)  # one row a charge, whatever comes
        assert not again.new and again.credits == 0
    async with database.transaction() as session:
        plan = await payments.plan_refund(session, "telegram", "stx-cheap", allow_negative=False)
        assert plan.credits == 0
        done = await payments.record_refund(session, "telegram", "stx-cheap", tell_buyer=False)
        assert done is not None and (done.taken_back, done.shortfall, done.balance) == (0, 0, 2)
    assert await state(database, user) == (2, 2, 1)


def _database_before_refund_notices(path) -> None:  # type: ignore[no-untyped-def]
    """A database at revision 0008 with a refund recorded then, and a payment not refunded."""
    import sqlite3

    from alembic import command

    from db.migrate import alembic_config

    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{path}"), "0008")
    connection = sqlite3.connect(path)
    connection.executescript("""
        INSERT INTO users (id, platform, platform_user_id, display_name, language, credits, created_at)
            VALUES (1, 'telegram', '100', 'Alex', '', 10, '2026-11-01');
        INSERT INTO payments (platform, external_id, provider_charge_id, user_id, platform_user_id, pack_id, amount,
                              currency, credits, state, created_at, refunded_at, credits_taken_back)
            VALUES ('telegram', 'stx-old', '', 1, '100', 'small', 250, 'XTR', 10, 'refunded', '2026-11-01',
                    '2026-11-02', 10),
                   ('telegram', 'stx-kept', '', 1, '100', 'small', 250, 'XTR', 10, 'paid', '2026-11-03', NULL, 0);
    """)
    connection.commit()
    connection.close()


async def test_refunds_recorded_before_the_upgrade_count_as_told(tmp_path) -> None:
    """The start-up pass reads the last page of Stars transactions again: a refund of before the
    upgrade found there must not reach its buyer out of the blue now."""
    path = tmp_path / "old.db"
    await asyncio.to_thread(_database_before_refund_notices, path)  # alembic's env runs its own event loop
    database = Database(f"sqlite+aiosqlite:///{path}")
    try:
        await database.migrate()
        async with database.transaction() as session:
            assert await payments.record_refund(session, "telegram", "stx-old") is None
            kept = await payments.find(session, "telegram", "stx-kept")
            assert kept is not None and kept.refund_told_at is None
    finally:
        await database.dispose()
