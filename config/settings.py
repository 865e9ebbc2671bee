"""The one typed configuration object of Portrait Studio.

Every value comes from the environment (prefix ``STUDIO_``) or a ``.env`` file in the working
directory. Secrets are ``SecretStr``: they print as ``**********`` and are never logged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

ENV_PREFIX = "STUDIO_"


class StorageBackend(StrEnum):
    local = "local"
    s3 = "s3"


class EngineBackend(StrEnum):
    local = "local"
    runpod = "runpod"


class FaceRestorerChoice(StrEnum):
    gfpgan = "gfpgan"
    face_model = "face_model"


class Platform(StrEnum):
    telegram = "telegram"
    discord = "discord"
    console = "console"


def _split_list(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class CreditPack(BaseModel):
    """Credits for sale. ``id`` names the pack for its whole life: an invoice carries it with the
    size and price it was offered at, so a pack changed or withdrawn since is noticed at checkout."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(pattern=r"^[a-z0-9_-]{1,24}$")
    credits: int = Field(ge=1, le=100_000)
    stars: int | None = Field(None, ge=1, le=100_000, description="Price in Telegram Stars (XTR); None: not on Telegram.")
    discord_sku_id: int | None = Field(None, ge=1, description="Discord consumable SKU; None: not on Discord.")


def _parse_packs(value: object) -> object:
    """``id:credits:stars[:discord_sku_id]`` comma-separated (an empty field: not sold there), or JSON."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        return json.loads(text)
    packs = []
    for item in _split_list(text):  # type: ignore[union-attr]
        fields = [f.strip() for f in item.split(":")]
        if len(fields) not in (3, 4):
            raise ValueError(f"{item!r} is not id:credits:stars[:discord_sku_id] (e.g. small:10:250)")
        pack: dict[str, object] = {"id": fields[0], "credits": fields[1], "stars": fields[2] or None}
        if len(fields) == 4 and fields[3]:
            pack["discord_sku_id"] = fields[3]
        packs.append(pack)
    return packs


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
    )

    # --- general -------------------------------------------------------------------------------
    data_dir: Path = Field(Path("data"), description="Folder for the SQLite file, local storage and caches.")
    log_level: str = Field("INFO", description="Python logging level: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool = Field(False, description="Log one JSON object per line instead of text.")

    # --- database ------------------------------------------------------------------------------
    database_url: str = Field(
        "",
        description="SQLAlchemy async URL. Empty: sqlite+aiosqlite file `<data_dir>/studio.db`. "
        "At scale: postgresql+asyncpg://user:pass@host/db.",
    )
    sqlite_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout in milliseconds.")

    # --- storage -------------------------------------------------------------------------------
    storage_backend: StorageBackend = Field(StorageBackend.local, description="`local` folder or `s3`.")
    storage_dir: Path | None = Field(None, description="Local storage folder. Empty: `<data_dir>/storage`.")
    s3_bucket: str = Field("", description="S3 bucket (required when storage_backend=s3).")
    s3_prefix: str = Field("portrait-studio/", description="Key prefix inside the bucket.")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint (MinIO, R2...). Empty: AWS.")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: SecretStr | None = Field(None, description="S3 key id. Empty: boto3's usual chain (AWS_* env, role).")
    s3_secret_access_key: SecretStr | None = Field(None, description="S3 secret key. Empty: boto3's usual chain.")
    s3_presign_seconds: int = Field(3600, ge=60, le=7 * 24 * 3600, description="Lifetime of presigned URLs.")

    # --- credits and limits --------------------------------------------------------------------
    free_credits: int = Field(3, ge=0, description="Credits a new account starts with (once per platform account).")
    account_hash_key: SecretStr | None = Field(
        None, description="Key of the hash that remembers which accounts had their free credits (nothing else of "
        "them is kept after /delete). Empty: a random key in `<data_dir>/account-hash.key`.")
    train_cost: int = Field(1, ge=0, description="Credits one personal-model training costs.")
    generate_cost: int = Field(1, ge=0, description="Credits one style generation (a batch of portraits) costs.")
    min_likeness: int = Field(
        70, ge=0, le=100, description="Likeness bar in % of the user's own baseline (100 = as close as their selfies "
        "are to each other). Portraits below it are painted again, then not charged for. 0: off; a style may set its own.")
    likeness_retries: int = Field(1, ge=0, le=3, description="Extra rounds painted when portraits fall below the likeness bar.")
    images_per_generation: int = Field(4, ge=1, le=20, description="Portraits delivered per generation.")
    preview_images: int = Field(1, ge=0, le=2, description=(
        "Quick preview portraits painted from the selfies (IP-Adapter, no training) while the personal model "
        "trains: free, once per training (0: no previews)."))
    max_queued_jobs_per_user: int = Field(3, ge=1, description="Jobs one user may have waiting at once.")
    commands_per_minute: int = Field(20, ge=1, description="Per-user command rate limit.")
    photos_per_minute: int = Field(
        60, ge=1, description="Per-user photo rate limit (each file counts; photos don't count as commands).")
    admins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated admins as platform:user_id, e.g. `telegram:12345,discord:6789`.",
    )

    # --- payments ------------------------------------------------------------------------------
    credit_packs: Annotated[list[CreditPack], NoDecode] = Field(
        default_factory=list,
        description="Credit packs for sale, comma-separated `id:credits:stars[:discord_sku_id]` (or a JSON list), "
        "e.g. `small:10:250,big:50:1000:1234567890123`: Telegram sells a pack for its Stars, Discord by its "
        "consumable SKU. Empty: nothing is sold, no /buy.")
    payment_support: str = Field(
        "", description="Where buyers get help with a payment (/paysupport), e.g. `@studio_help` or an e-mail.")
    banned_users: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Comma-separated platform:user_id accounts nothing is sold to.")

    # --- photo intake --------------------------------------------------------------------------
    min_photos: int = Field(8, ge=1, le=30, description="Accepted photos needed before training.")
    max_photos: int = Field(30, ge=1, le=100, description="Most photos kept in one selfie set.")
    max_file_mb: float = Field(25.0, gt=0, description="Largest photo file accepted, in MB.")
    min_side_px: int = Field(512, ge=64, description="Shortest side a photo must have, in pixels.")
    max_megapixels: float = Field(60.0, gt=0, description="Largest photo accepted, in megapixels (bomb guard).")
    photo_check_workers: int | None = Field(
        None, ge=0, le=64, description="Processes that check photos (0: threads of the bot process). Empty: the "
        "cores, at most 4.")
    photo_check_niceness: int = Field(
        0, ge=0, le=19, description="How much lower the photo-check processes' CPU priority is than the bot's "
        "(nice): while albums keep the cores busy, commands are answered first; higher also leaves the checks "
        "less of the CPU that other processes want. 0: the same.")

    # --- privacy -------------------------------------------------------------------------------
    selfie_retention_days: int = Field(
        7, ge=0, description="Selfies are deleted this many days after the model trained on them is ready (0: kept).")
    model_retention_days: int = Field(
        90, ge=0, description="A model and its portraits are deleted after this many days without use (0: kept).")
    expiry_notice_days: int = Field(7, ge=0, description="Days before a model is deleted that its owner is told.")
    unused_selfie_retention_days: int = Field(
        30, ge=0, description="Selfies never trained on are deleted this many days after the last one arrived (0: kept).")
    retention_sweep_minutes: float = Field(60, gt=0, description="How often the retention sweep runs.")

    # --- engine --------------------------------------------------------------------------------
    engine_backend: EngineBackend = Field(EngineBackend.local, description="`local` worker or `runpod` serverless.")
    base_model: str = Field(
        "auto",
        description="Base model name from engine/models.toml (`sdxl`, `tiny`, ...). `auto`: sdxl when its "
        "weights and a GPU are present, else tiny.",
    )
    models_dir: Path | None = Field(None, description="Folder with downloaded weights. Empty: `<data_dir>/models`.")
    hf_offline: bool = Field(True, description="Never reach a model hub at run time (weights must be local).")
    device: str = Field("auto", description="Torch device: auto, cuda, cuda:1, cpu.")
    face_restorer: FaceRestorerChoice = Field(
        FaceRestorerChoice.gfpgan,
        description="Restorer used when both are present: `gfpgan` (`<models_dir>/gfpgan/GFPGANv1.4.pth`) or "
        "`face_model` (a spandrel face model file in `<models_dir>/restore/`, e.g. CodeFormer with the "
        "`codeformer` extra).",
    )
    train_steps_per_image: int | None = Field(
        None, ge=1, le=1000, description="Training policy: images seen per selfie (its close-up and upper-body crops "
        "count as one), at least the model's train_min_steps. Empty: the base model's (engine/models.toml).")
    train_max_steps: int | None = Field(
        None, ge=1, description="Training policy: most images seen in one training. Empty: the base model's.")
    styles_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=list, description="Extra comma-separated folders of style files, added to the built-ins."
    )
    job_lease_seconds: int = Field(120, ge=5, description="A running job's lease; a worker heartbeats within it.")
    job_max_attempts: int = Field(3, ge=1, description="Tries before a job fails and its credits are refunded.")

    # --- metrics and health (telemetry/, README "Metrics and health") ----------------------------
    metrics_port: int = Field(0, ge=0, le=65535, description="Port of this process's /metrics, /livez and /readyz "
                              "(`studio worker`, the bots of `studio run`). 0: off.")
    metrics_host: str = Field("0.0.0.0", description="Address the metrics port listens on.")
    worker_metrics_port: int = Field(0, ge=0, le=65535, description="The port of the worker child `studio run` "
                                     "starts. 0: STUDIO_METRICS_PORT + 1 (off when STUDIO_METRICS_PORT is).")
    worker_stuck_ticks: int = Field(120, ge=2, description="A worker whose running job's heartbeat (one a tick, "
                                    "0.5 s) has not advanced for this many ticks is stuck: /livez answers 503.")

    # --- the web gallery (web/, README "The gallery") -------------------------------------------
    web_url: str = Field("", description="Public address of the gallery (Telegram Mini App and signed links), e.g. "
                         "`https://studio.example.com`. Set: `studio run` serves it beside the bots.")
    web_port: int = Field(8080, ge=1, le=65535, description="Port the gallery (`studio web`) listens on.")
    web_host: str = Field("0.0.0.0", description="Address the gallery listens on.")
    web_secret: SecretStr | None = Field(
        None, description="Key that signs the gallery's private links (32+ random characters, from the environment or "
        ".env only). Required by the gallery.")
    web_link_hours: float = Field(24, gt=0, le=24 * 30, description="How long a gallery link stays valid.")
    web_init_data_max_age: int = Field(
        86400, ge=60, description="Oldest Telegram Mini App initData (auth_date) the gallery accepts, in seconds.")

    # --- RunPod --------------------------------------------------------------------------------
    runpod_api_key: SecretStr | None = Field(None, description="RunPod API key (engine_backend=runpod).")
    runpod_endpoint_id: str = Field("", description="RunPod serverless endpoint id (engine_backend=runpod).")
    runpod_base_url: str = Field("https://api.runpod.ai/v2", description="RunPod API base URL.")

    # --- Telegram ------------------------------------------------------------------------------
    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather. Set: Telegram starts.")
    telegram_base_url: str = Field("", description="Bot API base URL (a local Bot API server). Empty: Telegram's.")
    telegram_base_file_url: str = Field("", description="Bot API file base URL. Empty: Telegram's.")
    telegram_webhook_url: str = Field("", description="Public HTTPS URL for webhook mode. Empty: long polling.")
    telegram_webhook_port: int = Field(8443, ge=1, le=65535, description="Local port the webhook listens on.")

    # --- Discord -------------------------------------------------------------------------------
    discord_token: SecretStr | None = Field(None, description="Discord bot token. Set: Discord starts.")
    discord_guild_id: int | None = Field(None, description="Sync slash commands to this guild only (development).")
    discord_api_base_url: str = Field("", description="Discord REST base URL (a stand-in for tests). Empty: Discord's.")
    discord_gateway_url: str = Field("", description="Discord gateway URL (a stand-in for tests). Empty: Discord's.")

    # --- validators ----------------------------------------------------------------------------
    @field_validator("credit_packs", mode="before")
    @classmethod
    def _packs(cls, value: object) -> object:
        return _parse_packs(value)

    @field_validator("credit_packs")
    @classmethod
    def _unique_packs(cls, value: list[CreditPack]) -> list[CreditPack]:
        ids = [pack.id for pack in value]
        skus = [pack.discord_sku_id for pack in value if pack.discord_sku_id is not None]
        if len(set(ids)) != len(ids) or len(set(skus)) != len(skus):
            raise ValueError("every pack needs an id and a Discord SKU of its own")
        return value

    @field_validator("admins", "styles_dirs", "banned_users", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return _split_list(value)

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return level

    @field_validator("admins", "banned_users")
    @classmethod
    def _admin_form(cls, value: list[str]) -> list[str]:
        for item in value:
            platform, _, user_id = item.partition(":")
            if platform not in {p.value for p in Platform} or not user_id:
                raise ValueError(f"{item!r} is not platform:user_id (e.g. telegram:12345)")
        return value

    @field_validator("device")
    @classmethod
    def _torch_device(cls, value: str) -> str:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("one of auto, cpu, cuda, cuda:N (the GPU's index), mps")
        return value

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        if value and not any(
            value.startswith(prefix) for prefix in ("sqlite+aiosqlite://", "postgresql+asyncpg://", "mysql+aiomysql://")
        ):
            raise ValueError("needs an async driver, e.g. sqlite+aiosqlite:///path.db or postgresql+asyncpg://...")
        return value

    @field_validator("telegram_token", "discord_token", "runpod_api_key", "s3_access_key_id", "s3_secret_access_key",
                     "account_hash_key", "web_secret", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.max_photos < self.min_photos:
            raise ValueError("max_photos must be at least min_photos")
        return self

    # --- derived values ------------------------------------------------------------------------
    @cached_property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{(self.data_dir / 'studio.db').as_posix()}"

    @cached_property
    def resolved_storage_dir(self) -> Path:
        return self.storage_dir or self.data_dir / "storage"

    @cached_property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def child_worker_metrics_port(self) -> int:
        """The metrics port of the worker child `studio run` starts: STUDIO_WORKER_METRICS_PORT, else
        STUDIO_METRICS_PORT + 1; 0 (off) when metrics are off."""
        if not self.metrics_port:
            return 0
        return self.worker_metrics_port or self.metrics_port + 1

    @property
    def front_ends(self) -> list[str]:
        """The chat platforms this install serves: those with a token."""
        return [name for name, token in (("telegram", self.telegram_token), ("discord", self.discord_token)) if token]

    def is_admin(self, platform: str, platform_user_id: str) -> bool:
        return f"{platform}:{platform_user_id}" in self.admins

    def is_banned(self, platform: str, platform_user_id: str) -> bool:
        return f"{platform}:{platform_user_id}" in self.banned_users

    def secret_values(self) -> list[str]:
        """Every configured secret in clear text, for the log redaction filter only."""
        secrets = [self.telegram_token, self.discord_token, self.runpod_api_key,
                   self.s3_access_key_id, self.s3_secret_access_key, self.account_hash_key, self.web_secret]
        values = [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]
        if self.database_url:
            try:
                password = make_url(self.database_url).password
            except Exception:  # an unparsable URL: its password is taken out by its shape
                password = None
            if password:
                values.append(str(password))
        return values


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the environment variable."""


def env_name(field: str) -> str:
    return f"{ENV_PREFIX}{field.upper()}"


def describe_validation_error(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else ""
        name = env_name(field) if field else "settings"
        given = item.get("input")
        shown = "" if not field or isinstance(given, dict) or field in _SECRET_FIELDS else f" (got {given!r})"
        lines.append(f"{name}: {item['msg'].removeprefix('Value error, ')}{shown}")
    return "; ".join(lines)


_SECRET_FIELDS = {"telegram_token", "discord_token", "runpod_api_key", "s3_access_key_id", "s3_secret_access_key",
                  "account_hash_key", "web_secret"}


def load_settings(**overrides: object) -> Settings:
    """Read the settings, turning a validation error into one line that names the variable."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        raise ConfigError(f"Configuration error: {describe_validation_error(error)}") from None


NOT_SETTINGS = ("STUDIO_TEST_",)  # the test suite's own switches (STUDIO_TEST_REQUIRE_POSTGRES, ...)


def unknown_variables(environ: Mapping[str, str], dotenv: Path = Path(".env")) -> list[str]:
    """One line per STUDIO_* variable (environment or .env) that is no setting, a typo most likely,
    with the nearest setting: pydantic-settings ignores them, so a misspelt token would go unnoticed."""
    from difflib import get_close_matches

    from dotenv import dotenv_values

    known = {env_name(name) for name in Settings.model_fields}
    found = [(name, "environment") for name in environ]
    if dotenv.is_file():
        found += [(name, str(dotenv)) for name in dotenv_values(dotenv)]
    lines = []
    for name, where in found:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper in known or upper.startswith(NOT_SETTINGS):
            continue
        near = get_close_matches(upper, known, n=1)
        lines.append(f"{name} is not a setting ({where}), so it is ignored" + (f"; did you mean {near[0]}?" if near else ""))
    return lines


def require_secret(settings: Settings, field: str, purpose: str) -> str:
    value = getattr(settings, field)
    if value is None or not value.get_secret_value():
        raise ConfigError(f"Configuration error: {env_name(field)} is not set; {purpose} needs it.")
    return value.get_secret_value()
