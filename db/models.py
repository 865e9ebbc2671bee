"""SQLAlchemy 2 models: the whole persistent state of Portrait Studio.

Every user-owned row cascades from ``users`` so that deleting a user removes everything.
Timestamps are timezone-aware UTC values passed from Python (portable across SQLite and
PostgreSQL).
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Ids reach file names, storage keys, buttons and remote jobs: SQLite must never hand one out twice
# (without AUTOINCREMENT it reuses the largest id once its row is deleted). PostgreSQL's sequences never do.
NEVER_REUSED_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: DateTime(timezone=True), dict[str, Any]: JSON}


class JobKind(StrEnum):
    train = "train"
    generate = "generate"
    preview = "preview"  # a free train-free preview painted while the user's model trains


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    succeeded = "succeeded"
    failed = "failed"
    cancelled = "cancelled"


FINAL_JOB_STATES = frozenset({JobState.succeeded, JobState.failed, JobState.cancelled})


class CreditState(StrEnum):
    """Where a job's reserved credits stand: reserved until the job ends, then exactly one of
    committed (spent) or refunded."""

    none = "none"
    reserved = "reserved"
    committed = "committed"
    refunded = "refunded"


class SetStatus(StrEnum):
    collecting = "collecting"
    training = "training"
    trained = "trained"
    archived = "archived"


class LoraStatus(StrEnum):
    training = "training"
    ready = "ready"
    failed = "failed"


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        UniqueConstraint("platform", "platform_user_id", name="uq_users_platform_user"),
        CheckConstraint("credits >= 0", name="credits_not_negative"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    #: the language the user's app was set to when last heard from (Telegram's language_code,
    #: Discord's locale): what the messages that reach them later are said in
    language: Mapped[str] = mapped_column(String(16), default="")
    #: the language they picked with /language; None: follow their app's
    chosen_language: Mapped[str | None] = mapped_column(String(16))
    credits: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when the user confirmed the photos are of themselves and they are 18 or older
    consented_at: Mapped[datetime | None] = mapped_column()

    ledger: Mapped[list[CreditEntry]] = relationship(back_populates="user", cascade="all, delete-orphan", passive_deletes=True)


class CreditEntry(Base):
    """One change of a user's balance. The balance column is the running sum of these rows."""

    __tablename__ = "credit_ledger"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    delta: Mapped[int] = mapped_column(Integer)
    balance_after: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(32))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), index=True)
    # Makes an operation idempotent: "job:17:refund" can be written once only.
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    note: Mapped[str] = mapped_column(String(256), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship(back_populates="ledger")


class SelfieSet(Base):
    __tablename__ = "selfie_sets"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[SetStatus] = mapped_column(String(16), default=SetStatus.collecting)
    class_word: Mapped[str] = mapped_column(String(32), default="person")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    photos: Mapped[list[Photo]] = relationship(
        back_populates="selfie_set", cascade="all, delete-orphan", passive_deletes=True, order_by="Photo.position"
    )


class Photo(Base):
    __tablename__ = "photos"
    __table_args__ = (UniqueConstraint("set_id", "sha256", name="uq_photos_set_sha256"), NEVER_REUSED_IDS)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    set_id: Mapped[int] = mapped_column(ForeignKey("selfie_sets.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    original_name: Mapped[str] = mapped_column(String(256), default="")
    sha256: Mapped[str] = mapped_column(String(64))
    perceptual_hash: Mapped[str] = mapped_column(String(32), default="")
    storage_key: Mapped[str | None] = mapped_column(String(512))
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    verdict_code: Mapped[str | None] = mapped_column(String(32))
    verdict_message: Mapped[str] = mapped_column(Text, default="")
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    face_box: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    face_embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    selfie_set: Mapped[SelfieSet] = relationship(back_populates="photos")


class LoraModel(Base):
    __tablename__ = "lora_models"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    set_id: Mapped[int | None] = mapped_column(ForeignKey("selfie_sets.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    base_model: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(32))
    class_word: Mapped[str] = mapped_column(String(32))
    status: Mapped[LoraStatus] = mapped_column(String(16), default=LoraStatus.training)
    storage_key: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: when the user was told this model will be deleted for want of use (db/retention.py)
    expiry_warned_at: Mapped[datetime | None] = mapped_column()


class Job(Base):
    """A unit of GPU work; the jobs table is the queue."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_claim", "state", "priority", "id"),
        Index("ix_jobs_user_state", "user_id", "state"),
        # Round-robin claims: each user's oldest waiting job, and when each user was last
        # served (db/queue.py).
        Index("ix_jobs_queue_heads", "state", "cancel_requested", "user_id"),
        Index("ix_jobs_user_started", "user_id", "started_at"),
        # Finished jobs still owed to their users (db/delivery.py).
        Index(
            "ix_jobs_undelivered", "state", "finished_at",
            sqlite_where=text("delivered_at IS NULL"), postgresql_where=text("delivered_at IS NULL"),
        ),
        # One active training per user, enforced by the database itself (SQLite and PostgreSQL).
        Index(
            "uq_jobs_one_active_training", "user_id", unique=True,
            sqlite_where=text("kind = 'train' AND state IN ('queued', 'running')"),
            postgresql_where=text("kind = 'train' AND state IN ('queued', 'running')"),
        ),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        CheckConstraint("credits_reserved >= 0", name="credits_reserved_not_negative"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[JobKind] = mapped_column(String(16))
    state: Mapped[JobState] = mapped_column(String(16), default=JobState.queued)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    idempotency_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    correlation_id: Mapped[str] = mapped_column(String(32), default="")

    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    heartbeat_at: Mapped[datetime | None] = mapped_column()
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # The job's work on a remote backend (RunPod's job id), written by the lease holder as soon
    # as it is submitted, so that a retry resumes that remote job instead of paying for it twice.
    remote_backend: Mapped[str | None] = mapped_column(String(16))
    remote_id: Mapped[str | None] = mapped_column(String(128))

    stage: Mapped[str] = mapped_column(String(32), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int] = mapped_column(Integer, default=0)
    eta_seconds: Mapped[float | None] = mapped_column(Float)

    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)

    credits_reserved: Mapped[int] = mapped_column(Integer, default=0)
    credit_state: Mapped[CreditState] = mapped_column(String(16), default=CreditState.none)

    # Where the front end talks to the user about this job (platform chat and progress message).
    reply_platform: Mapped[str] = mapped_column(String(16), default="")
    reply_chat_id: Mapped[str] = mapped_column(String(64), default="")
    reply_message_id: Mapped[str | None] = mapped_column(String(64))

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    delivery_started_at: Mapped[datetime | None] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()


class OutputImage(Base):
    __tablename__ = "output_images"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    style_id: Mapped[str] = mapped_column(String(64))
    variant: Mapped[str] = mapped_column(String(32), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)
    storage_key: Mapped[str] = mapped_column(String(512))
    width: Mapped[int] = mapped_column(Integer, default=0)
    height: Mapped[int] = mapped_column(Integer, default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    score: Mapped[float | None] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostedMessage(Base):
    """A message the bot posted with a user's portraits where the bot can take it back (Discord),
    so that ``/delete`` removes it from a server channel too."""

    __tablename__ = "posted_messages"
    __table_args__ = (NEVER_REUSED_IDS,)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(16))
    chat_id: Mapped[str] = mapped_column(String(64))
    message_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentState(StrEnum):
    paid = "paid"
    refunded = "refunded"
    #: money received that matched no pack (another amount or currency than its invoice, or an
    #: invoice that is not ours): no credits, kept for the operator (refund it, or grant by hand)
    unmatched = "unmatched"


class Payment(Base):
    """Money (Telegram Stars) or a store purchase (a Discord entitlement) that became credits.

    One row per platform charge, never two (``uq_payments_platform_external``): the credits are
    granted in the same transaction that writes it. It outlives ``/delete`` (``user_id`` goes to
    NULL) because takings must stay explainable, and a refund needs the platform account."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("platform", "external_id", name="uq_payments_platform_external"),
        CheckConstraint("credits >= 0", name="credits_not_negative"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    #: Telegram's telegram_payment_charge_id, Discord's entitlement id
    external_id: Mapped[str] = mapped_column(String(128))
    #: the provider's own charge id where there is one (Telegram: provider_payment_charge_id)
    provider_charge_id: Mapped[str] = mapped_column(String(128), default="")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    platform_user_id: Mapped[str] = mapped_column(String(64))
    pack_id: Mapped[str] = mapped_column(String(32))
    #: what was paid, in the currency's smallest unit (Stars are whole); 0 where the platform keeps
    #: the price (a Discord SKU's price is set in its developer portal)
    amount: Mapped[int] = mapped_column(Integer, default=0)
    currency: Mapped[str] = mapped_column(String(8), default="")
    credits: Mapped[int] = mapped_column(Integer)
    state: Mapped[PaymentState] = mapped_column(String(16), default=PaymentState.paid)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    refunded_at: Mapped[datetime | None] = mapped_column()
    #: credits taken back at the refund; fewer than ``credits`` when the buyer had spent them
    #: and the operator refunded anyway (the shortfall stays on record here)
    credits_taken_back: Mapped[int] = mapped_column(Integer, default=0)
    #: when the buyer was told of the refund (once, by whichever came first: the platform's notice
    #: or the start-up pass); an operator's refund leaves it to them
    refund_told_at: Mapped[datetime | None] = mapped_column()


class AllowanceClaim(Base):
    """A platform account that has had its free allowance, as a keyed hash of the account alone
    (``db/allowance.py``): it outlives ``/delete`` without keeping anything that names the person."""

    __tablename__ = "allowance_claims"

    account_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReadCursor(Base):
    """How far the bot has read a platform's own append-only record (Telegram's Stars transactions,
    oldest first): the next start reads on from ``position`` instead of from the beginning. Only
    the reading pass that settled everything before ``position`` moves it (``db/cursors.py``)."""

    __tablename__ = "read_cursors"

    #: which record, e.g. ``telegram-stars:<bot id>``
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: how many entries, from the oldest, have been read and settled
    position: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class HeldNotice(Base):
    """A message for a platform account that could not reach it when it was due (a Discord buyer's
    receipt where their DMs are closed): shown with that account's next interaction, once, also
    after a restart. Keyed by the platform account (a buyer may have no account row yet); /delete
    removes them with the rest."""

    __tablename__ = "held_notices"
    __table_args__ = (
        Index("ix_held_notices_account", "platform", "platform_user_id"),
        NEVER_REUSED_IDS,
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    platform: Mapped[str] = mapped_column(String(16))
    platform_user_id: Mapped[str] = mapped_column(String(64))
    #: the reply: {"text": ..., "buttons": [[[label, action, sku_id], ...], ...]}
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
