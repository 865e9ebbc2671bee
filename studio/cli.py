"""The `studio` command."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from config.redaction import redact
from config.settings import ConfigError, Platform, Settings, env_name, load_settings, unknown_variables

log = logging.getLogger("studio")

app = typer.Typer(
    name="studio",
    help="Portrait Studio: selfies in, styled portraits out, in Telegram and Discord.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
models_app = typer.Typer(help="Base-model weights.", no_args_is_help=True)
app.add_typer(models_app, name="models")


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def _startup(ctx: typer.Context) -> None:
    from config.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values(), json_lines=settings.log_json)
    for line in unknown_variables(os.environ):
        log.warning("%s", line)
    ctx.obj = settings


@app.command()
def run(ctx: typer.Context) -> None:
    """The main job: prepare the database and storage, then start every front end that is configured."""
    from studio.app import run_main

    raise typer.Exit(asyncio.run(run_main(settings_of(ctx))))


@app.command()
def web(ctx: typer.Context) -> None:
    """The gallery alone (Telegram Mini App and private links) on STUDIO_WEB_PORT; needs STUDIO_WEB_SECRET."""
    from web.server import run_web

    raise typer.Exit(asyncio.run(run_web(settings_of(ctx))))


@app.command()
def styles(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document for machines.")] = False,
) -> None:
    """List the style catalogue."""
    from styles import load_catalogue

    catalogue = load_catalogue(settings_of(ctx).styles_dirs)
    if as_json:
        items = [style.model_dump(mode="json") for style in catalogue]
        typer.echo(json.dumps({"count": len(items), "styles": items}, ensure_ascii=False, indent=2))
        return
    for category in catalogue.used_categories():
        typer.echo(f"{category.emoji} {category.title}")
        for style in catalogue.in_category(category.id):
            typer.echo(f"   {style.id:<24} {style.title:<28} {', '.join(style.aspects)}")
    typer.echo(f"{len(catalogue)} styles")


@app.command()
def config(
    ctx: typer.Context,
    markdown: Annotated[bool, typer.Option("--markdown", help="The README's table of every setting.")] = False,
) -> None:
    """Show the effective configuration (secrets masked) with each setting's variable name."""
    settings = settings_of(ctx)
    if markdown:
        typer.echo("| variable | default | meaning |\n| --- | --- | --- |")
    for name, field in Settings.model_fields.items():
        secret = "SecretStr" in str(field.annotation)
        if markdown:
            default = field.get_default(call_default_factory=True)
            shown = "" if default in (None, "", []) else f"`{default.value if hasattr(default, 'value') else default}`"
            typer.echo(f"| `{env_name(name)}` | {shown} | {field.description or ''}{' (secret)' if secret else ''} |")
            continue
        value = getattr(settings, name)
        resolved = getattr(settings, f"resolved_{name}", None)  # what an empty one stands for
        if secret:
            shown = "(set)" if value is not None else "(not set)"
        elif value in (None, "") and resolved is not None:
            shown = f"(default) {redact(str(resolved))}"
        else:
            shown = "(not set)" if value is None else redact(str(value))
        typer.echo(f"{env_name(name):<36} {shown}")


@app.command(context_settings={"ignore_unknown_options": True})  # so that `grant telegram 42 -3` takes 3
def grant(
    ctx: typer.Context,
    platform: Annotated[Platform, typer.Argument(help="telegram, discord or console.")],
    user_id: Annotated[str, typer.Argument(help="The user's id on that platform.")],
    amount: Annotated[int, typer.Argument(help="Credits to add (negative to take away).")],
    note: Annotated[str, typer.Option(help="Why, for the ledger.")] = "",
) -> None:
    """Give a user credits, or take some away with a negative amount (admin)."""
    from db.credits import InsufficientCredits
    from db.users import NoAccount, is_account_id
    from studio.admin import grant_credits

    account = f"{platform.value}:{user_id}"
    if not is_account_id(platform.value, user_id):
        typer.echo(f"Error: {platform.value} user ids are numbers, not {user_id!r} (a @username or a display name "
                   "is not an account; the id is in the bot's log lines and in `studio payments`)", err=True)
        raise typer.Exit(2)
    try:
        balance = asyncio.run(grant_credits(settings_of(ctx), platform.value, user_id, amount, note=note))
    except InsufficientCredits as short:
        typer.echo(f"not granted: {account} has {short.balance} credit(s), so {short.needed} can't be taken "
                   "away (a balance never goes below zero)", err=True)
        raise typer.Exit(1) from None
    except NoAccount:
        typer.echo(f"not granted: {account} has no account here, so there are no credits to take away", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"{account} now has {balance} credit(s)")


@app.command("refund")
def refund_command(
    ctx: typer.Context,
    charge_id: Annotated[str, typer.Argument(help="The telegram_payment_charge_id from the receipt or `studio payments`.")],
    allow_negative: Annotated[bool, typer.Option(
        "--allow-negative", help="Refund even when the buyer has spent some of the credits: take back what is left "
        "and record the shortfall (a balance never goes below zero).")] = False,
) -> None:
    """Give a Telegram Stars payment back (refundStarPayment) and take its credits back."""
    from telegram.error import InvalidToken, NetworkError

    from bot.core.shop import PlatformRefused
    from db.payments import RefundRefused
    from studio.admin import refund

    try:
        typer.echo(asyncio.run(refund(settings_of(ctx), charge_id, allow_negative=allow_negative)))
    except RefundRefused as refused:
        typer.echo(f"not refunded: {refused}", err=True)
        raise typer.Exit(1) from None
    except PlatformRefused as error:
        typer.echo(f"not refunded: Telegram said {error}", err=True)
        raise typer.Exit(1) from None
    except InvalidToken:
        typer.echo("not refunded: Telegram rejected the bot token in STUDIO_TELEGRAM_TOKEN", err=True)
        raise typer.Exit(1) from None
    except NetworkError as error:  # before or during refundStarPayment: running it again finishes it
        typer.echo(redact(f"not refunded: Telegram can't be reached ({error}); run `studio refund {charge_id}` "
                          "again once it can (a refund half done is finished then, never done twice)"), err=True)
        raise typer.Exit(1) from None


@app.command()
def payments(
    ctx: typer.Context,
    since: Annotated[datetime | None, typer.Option(help="Only payments and refunds from this date (YYYY-MM-DD) on.",
                                                   formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"])] = None,
) -> None:
    """Takings and refunds: one line per payment, then totals per platform and currency."""
    from studio.admin import takings

    start = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
    for line in asyncio.run(takings(settings_of(ctx), start)):
        typer.echo(line)


@app.command()
def retention(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list what would be deleted.")] = False,
) -> None:
    """Delete selfies and unused models past their retention (STUDIO_*_RETENTION_DAYS); the bots also do it hourly."""
    from studio.admin import run_retention

    lines = asyncio.run(run_retention(settings_of(ctx), dry_run=dry_run))
    for line in lines:
        typer.echo(("would delete " if dry_run and not line.startswith("notice") else "") + line)
    if not lines:
        typer.echo("nothing is due")


@app.command()
def check(
    ctx: typer.Context,
    photos: Annotated[list[Path], typer.Argument(help="Photo files to check as one selfie set.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per photo, then one for the set.")] = False,
) -> None:
    """Check selfies the way the bot does: every photo's verdict, then the set's."""
    from engine.intake import IntakeConfig
    from engine.intake.cli import check_command

    raise typer.Exit(check_command(photos, as_json, IntakeConfig.from_settings(settings_of(ctx))))


@app.command()
def demo(
    ctx: typer.Context,
    auto: Annotated[bool, typer.Option("--auto", help="Play the whole flow once with the sample selfies.")] = False,
    out: Annotated[Path | None, typer.Option(help="Where pictures and files go (default <data_dir>/demo).")] = None,
) -> None:
    """The conversation in the terminal, with a local engine worker (no bot token needed)."""
    from studio.app import run_console

    raise typer.Exit(asyncio.run(run_console(settings_of(ctx), auto=auto, out_dir=out)))


@app.command()
def worker(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run queued jobs until none is left, then exit.")] = False,
    worker_id: Annotated[str | None, typer.Option("--id", help="Name of this worker in leases and logs.")] = None,
) -> None:
    """Run the engine worker: claim jobs from the database and run them on the GPU (or CPU)."""
    from engine.runtime.worker_cli import run_worker

    raise typer.Exit(run_worker(settings_of(ctx), once=once, worker_id=worker_id))


@app.command()
def train(
    ctx: typer.Context,
    photos: Annotated[Path, typer.Argument(help="Folder of selfies.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the LoRA.")] = Path("data/lora"),
    model: Annotated[str, typer.Option(help="Base model: auto, sdxl, tiny, ...")] = "auto",
    token: Annotated[str, typer.Option(help="The rare token that will mean this person.")] = "ohwx",
    class_word: Annotated[str, typer.Option("--class", help="man, woman or person.")] = "person",
    steps: Annotated[int | None, typer.Option(help="Training steps (default: from the set size).")] = None,
) -> None:
    """Train a personal LoRA from a folder of selfies (checked like the bot checks them)."""
    from engine.runtime.cli import train_command

    raise typer.Exit(train_command(photos, output, model, token, class_word, steps, settings=settings_of(ctx)))


@app.command()
def generate(
    ctx: typer.Context,
    lora: Annotated[Path, typer.Argument(help="The LoRA folder or .safetensors file from `studio train`.")],
    style: Annotated[str, typer.Option(help="A style id from `studio styles`.")] = "linkedin-headshot",
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the portraits.")] = Path("data/portraits"),
    model: Annotated[str, typer.Option(help="Base model: auto (the LoRA's), sdxl, tiny, ...")] = "auto",
    count: Annotated[int, typer.Option(help="Portraits per aspect.")] = 4,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Generate finished portraits in a style, for every aspect the style offers."""
    from engine.runtime.cli import generate_command
    from styles import load_catalogue

    catalogue = load_catalogue(settings_of(ctx).styles_dirs)
    if style not in catalogue:
        typer.echo(f"Error: unknown style(s) {style}; `studio styles` lists them", err=True)
        raise typer.Exit(2)
    chosen = catalogue.get(style)
    raise typer.Exit(generate_command(
        lora, chosen.prompt.replace("{variation}", chosen.variations[0]), output, model, count, list(chosen.aspects),
        negative_prompt=chosen.negative_prompt, seed=seed, steps=chosen.sampler.steps, settings=settings_of(ctx),
    ))


@app.command()
def samples(
    ctx: typer.Context,
    style: Annotated[list[str] | None, typer.Option("--style", help="A style id (repeatable); default: every style.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Folder for the samples (default: the "
                                                "samples folder of the last STUDIO_STYLES_DIRS folder, else of "
                                                "the built-in styles).")] = None,
    model: Annotated[str, typer.Option(help="Base model: auto, sdxl, tiny, ...")] = "auto",
    subject: Annotated[str, typer.Option(help="Who the samples show: person, woman, man.")] = "person",
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Paint one sample portrait per style (base model, no personal LoRA) for the style picker's sheet."""
    from engine.runtime.style_samples import SampleStyle, samples_command
    from styles import load_catalogue
    from styles.catalogue import BUILTIN_DIR, SAMPLES_DIR

    catalogue = load_catalogue(settings_of(ctx).styles_dirs)
    if unknown := [style_id for style_id in style or [] if style_id not in catalogue]:
        typer.echo(f"Error: unknown style(s) {', '.join(unknown)}; `studio styles` lists them", err=True)
        raise typer.Exit(2)
    chosen = [catalogue.get(style_id) for style_id in style] if style else list(catalogue)
    specs = [SampleStyle(
        s.id, s.prompt.replace("{variation}", s.variations[0]), s.negative_prompt, s.sampler.steps,
        s.sampler.guidance_scale, s.sampler.refiner_split,
        s.sampler.scheduler, s.lora.source if s.lora else None, s.lora.weight if s.lora else 0.8) for s in chosen]
    folders = settings_of(ctx).styles_dirs  # where the bot looks: in a container, a mounted folder
    default = (Path(folders[-1]) if folders else BUILTIN_DIR) / SAMPLES_DIR
    raise typer.Exit(samples_command(specs, output or default, model=model, subject=subject, seed=seed,
                                     settings=settings_of(ctx)))


@app.command()
def finish(
    ctx: typer.Context,
    images: Annotated[list[Path], typer.Argument(help="Generated portraits to finish.")],
    aspect: Annotated[list[str], typer.Option("--aspect", help="An aspect to crop to (repeatable): 1:1, 4:5, 9:16, 16:9.")
                      ] = ["1:1"],  # noqa: B006
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the finished files.")] = Path("data/finished"),
) -> None:
    """Run the finishing chain on images: restore the face, upscale, soften the background, sharpen, crop per aspect."""
    from engine.runtime.cli import finish_command

    raise typer.Exit(finish_command(images, aspect, output, settings=settings_of(ctx)))


@app.command()
def likeness(
    ctx: typer.Context,
    photos: Annotated[Path, typer.Argument(help="Folder of the person's selfies (the references).")],
    portraits: Annotated[Path, typer.Argument(help="Folder of portraits to measure.")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object instead of lines.")] = False,
) -> None:
    """How alike portraits are to a person's selfies, in the figures the bot shows (100 % = as close as the selfies are to each other)."""
    from engine.intake import IntakeConfig
    from engine.likeness_report import likeness_command

    raise typer.Exit(likeness_command(photos, portraits, as_json, IntakeConfig.from_settings(settings_of(ctx))))


@app.command()
def doctor(ctx: typer.Context) -> None:
    """Check the whole set-up in one table: settings, database, storage, tokens, weights, device, worker
    (exit 1 when anything blocks a real deployment)."""
    from studio.doctor import doctor_command

    raise typer.Exit(doctor_command(settings_of(ctx)))


@app.command()
def selftest(
    ctx: typer.Context,
    style: Annotated[list[str] | None, typer.Option("--style", help="A style id (repeatable); default: every style.")
                     ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the report.")] = Path("data/selftest"),
    steps: Annotated[int | None, typer.Option(help="Training steps (default: the base model's policy).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """First-deploy acceptance: train on the sample selfies, paint one portrait per style, time each stage,
    measure likeness, write a contact sheet and a JSON report (its path printed last)."""
    from studio.selftest import selftest_command

    raise typer.Exit(selftest_command(settings_of(ctx), styles=style, output=output, steps=steps, seed=seed))


@models_app.command("fetch")
def models_fetch(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A model name from engine/models.toml, e.g. sdxl.")],
) -> None:
    """Download a base model's weights into the models folder (needs internet access)."""
    from engine.models import fetch_model

    folders = fetch_model(name, settings_of(ctx).resolved_models_dir)
    typer.echo("\n".join(str(f) for f in folders) or "nothing to fetch")


@models_app.command("list")
def models_list(
    ctx: typer.Context,
    markdown: Annotated[bool, typer.Option("--markdown", help="The README's table of every weight and its licence.")
                        ] = False,
) -> None:
    """The base models and whether their weights are here, and every weight the product can load with its
    licence and whether commercial use is allowed (engine/licences.toml)."""
    from engine.licences import listing, markdown_table

    typer.echo(markdown_table() if markdown else "\n".join(listing(settings_of(ctx).resolved_models_dir)))


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations (also done at every start)."""
    from db.session import Database

    async def _upgrade() -> tuple[str, str]:
        database = Database.from_settings(settings_of(ctx))
        try:
            return database.where, await database.migrate()
        finally:
            await database.dispose()

    where, revision = asyncio.run(_upgrade())
    typer.echo(f"database {where} is up to date (revision {revision})")


def main() -> None:
    from styles import StyleError

    try:
        app()
    except ConfigError as error:
        print(redact(str(error)), file=sys.stderr)
        sys.exit(2)
    except StyleError as error:
        print(f"Style catalogue error: {error}", file=sys.stderr)
        sys.exit(2)
    except Exception as error:
        from studio.failures import explain

        explained = explain(error)
        if explained is None:
            raise  # a bug: the uncaught-exception hook logs it with its traceback, redacted
        line, code = explained
        log.debug("%s", line, exc_info=True)
        print(redact(line), file=sys.stderr)
        sys.exit(code)


if __name__ == "__main__":
    main()
