"""Credits: a balance per user plus a ledger row for every change.

Every balance change is a single conditional ``UPDATE … RETURNING`` (exact under concurrency on
SQLite and PostgreSQL alike) written in the same transaction as its ledger row. A job's credits
are reserved when it is queued, then either committed (spent) when it succeeds or refunded when
it fails or is cancelled; the job's ``credit_state`` moves from ``reserved`` exactly once, so a
refund applied twice refunds once.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from db.models import CreditEntry, CreditState, Job, User


class InsufficientCredits(Exception):
    def __init__(self, balance: int, needed: int) -> None:
        super().__init__(f"needs {needed} credit(s), balance is {balance}")
        self.balance = balance
        self.needed = needed


@dataclass(frozen=True)
class Refund:
    job_id: int
    user_id: int
    amount: int
    balance: int


async def balance(session: AsyncSession, user_id: int) -> int:
    value = await session.scalar(select(User.credits).where(User.id == user_id))
    if value is None:
        raise LookupError(f"no user {user_id}")
    return value


async def _change_balance(session: AsyncSession, user_id: int, delta: int) -> int | None:
    """Apply ``delta`` unless the balance would go negative; returns the new balance or None."""
    statement = (
        update(User)
        .where(User.id == user_id, User.credits + delta >= 0)
        .values(credits=User.credits + delta)
        .returning(User.credits)
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def _record(
    session: AsyncSession,
    user_id: int,
    delta: int,
    balance_after: int,
    reason: str,
    *,
    job_id: int | None = None,
    key: str | None = None,
    note: str = "",
) -> None:
    session.add(
        CreditEntry(
            user_id=user_id, delta=delta, balance_after=balance_after, reason=reason, job_id=job_id,
            idempotency_key=key, note=note,
        )
    )
    await session.flush()


async def _already_recorded(session: AsyncSession, key: str) -> bool:
    return (await session.scalar(select(CreditEntry.id).where(CreditEntry.idempotency_key == key))) is not None


async def grant(
    session: AsyncSession, user_id: int, amount: int, *, reason: str = "grant", note: str = "", key: str | None = None
) -> int:
    """Add (or, with a negative amount, take away) credits. With a key, applying twice applies once,
    also when two callers race (PostgreSQL: the second's insert of the same key waits for the
    first to commit, fails, and its savepoint takes its balance change back)."""
    if key is None:
        return await _apply_grant(session, user_id, amount, reason, key, note)
    if await _already_recorded(session, key):
        return await balance(session, user_id)
    try:
        async with session.begin_nested():
            return await _apply_grant(session, user_id, amount, reason, key, note)
    except IntegrityError:
        if not await _already_recorded(session, key):
            raise
        return await balance(session, user_id)


async def welcome(session: AsyncSession, account: User, amount: int) -> int:
    """The first credits of an account made in this same transaction. Its key can't be taken yet (an
    account's entries go with it, and ids are never reused), so it needs no look-up and no savepoint;
    the account's balance is set from the update's RETURNING, not read back."""
    new_balance = await _apply_grant(session, account.id, amount, "welcome", f"welcome:{account.id}", "")
    set_committed_value(account, "credits", new_balance)
    return new_balance


async def _apply_grant(session: AsyncSession, user_id: int, amount: int, reason: str, key: str | None,
                       note: str) -> int:
    new_balance = await _change_balance(session, user_id, amount)
    if new_balance is None:
        raise InsufficientCredits(await balance(session, user_id), -amount)
    await _record(session, user_id, amount, new_balance, reason, key=key, note=note)
    return new_balance


async def reserve(session: AsyncSession, job: Job, amount: int) -> int:
    """Take ``amount`` credits for a job that is being queued (call in the enqueue transaction)."""
    job.credits_reserved = amount
    job.credit_state = CreditState.reserved if amount else CreditState.none
    await session.flush()
    if amount == 0:
        return await balance(session, job.user_id)
    new_balance = await _change_balance(session, job.user_id, -amount)
    if new_balance is None:
        raise InsufficientCredits(await balance(session, job.user_id), amount)
    await _record(session, job.user_id, -amount, new_balance, "reserve", job_id=job.id, key=f"job:{job.id}:reserve")
    return new_balance


async def commit(session: AsyncSession, job_id: int) -> bool:
    """Mark a job's reserved credits as spent. True only the first time."""
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.credit_state == CreditState.reserved)
        .values(credit_state=CreditState.committed)
        .returning(Job.id)
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None


async def refund(session: AsyncSession, job_id: int, *, amount: int | None = None, reason: str = "refund") -> Refund | None:
    """Give back a job's reserved credits (all, or ``amount`` of them when only part was used).

    Idempotent: the job's credit state leaves ``reserved`` in the same statement that reads it,
    so a second call finds nothing to refund and returns None.
    """
    statement = (
        update(Job)
        .where(Job.id == job_id, Job.credit_state == CreditState.reserved)
        .values(credit_state=CreditState.refunded)
        .returning(Job.user_id, Job.credits_reserved)
    )
    row = (await session.execute(statement)).one_or_none()
    if row is None:
        return None
    user_id, reserved = row
    give_back = reserved if amount is None else max(0, min(amount, reserved))
    new_balance = await _change_balance(session, user_id, give_back)
    assert new_balance is not None  # adding never goes negative
    if give_back:
        await _record(session, user_id, give_back, new_balance, reason, job_id=job_id, key=f"job:{job_id}:refund")
    return Refund(job_id=job_id, user_id=user_id, amount=give_back, balance=new_balance)


async def settle(session: AsyncSession, job_id: int, *, succeeded: bool, refund_amount: int | None = None) -> None:
    """A job ended: its reservation is spent when it succeeded, refunded (all or part) otherwise."""
    if succeeded:
        await commit(session, job_id)
    else:
        await refund(session, job_id, amount=refund_amount)


def shortfall_refund(cost: int, short: int, count: int) -> int:
    """Credits given back when ``short`` of a job's ``count`` portraits fell short of the likeness
    bar: the user pays for none of what fell short, so any shortfall rounds up to a whole credit."""
    if cost <= 0 or short <= 0 or count <= 0:
        return 0
    return min(cost, -(-cost * short // count))


async def refund_shortfall(session: AsyncSession, job: Job, short: int, count: int) -> int:
    """Give back the part of a succeeded job's credits that paid for portraits below the likeness
    bar; once per job (ledger key), in the transaction that records the job's result."""
    amount = shortfall_refund(job.credits_reserved, short, count)
    if amount:
        await grant(session, job.user_id, amount, reason="likeness_refund", key=f"job:{job.id}:likeness",
                    note=f"job {job.id}: {short} of {count} portraits below the likeness bar")
    return amount


async def ledger_sum(session: AsyncSession, user_id: int) -> int:
    """The sum of a user's ledger; equals the balance whenever the books are right."""
    return int(await session.scalar(select(func.coalesce(func.sum(CreditEntry.delta), 0)).where(CreditEntry.user_id == user_id)))
