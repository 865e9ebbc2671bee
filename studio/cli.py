"""The `studio` command."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from studio.settings import ConfigError, Settings, env_name, load_settings

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


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.obj


@app.callback()
def _startup(ctx: typer.Context) -> None:
    from studio.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.log_level, secrets=settings.secret_values(), json_lines=settings.log_json)
    ctx.obj = settings


@app.command()
def run(ctx: typer.Context) -> None:
    """The main job: prepare the database and storage, then start every front end that is configured."""
    from studio.app import run_main

    raise typer.Exit(asyncio.run(run_main(settings_of(ctx))))


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
        shown = ("(set)" if value is not None else "(not set)") if secret else value
        typer.echo(f"{env_name(name):<36} {shown}")


@app.command()
def grant(
    ctx: typer.Context,
    platform: Annotated[str, typer.Argument(help="telegram, discord or console.")],
    user_id: Annotated[str, typer.Argument(help="The user's id on that platform.")],
    amount: Annotated[int, typer.Argument(help="Credits to add (negative to take away).")],
    note: Annotated[str, typer.Option(help="Why, for the ledger.")] = "",
) -> None:
    """Give a user credits (admin)."""
    from studio.admin import grant_credits

    balance = asyncio.run(grant_credits(settings_of(ctx), platform, user_id, amount, note=note))
    typer.echo(f"{platform}:{user_id} now has {balance} credit(s)")


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


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply database migrations (also done at every start)."""
    from db.session import Database

    async def _upgrade() -> None:
        database = Database.from_settings(settings_of(ctx))
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(_upgrade())
    typer.echo("database is up to date")


def main() -> None:
    try:
        app()
    except ConfigError as error:
        print(str(error), file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
