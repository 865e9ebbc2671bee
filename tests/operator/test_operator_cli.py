"""The operator's `studio` commands: a mistake in the set-up (a database that can't be reached, a data
folder that can't be written, a model name that does not exist, no internet for a download, a typo
in an admin command) ends with one line that says what to do and a non-zero exit code, never a
traceback; and nothing of a configured secret reaches the terminal."""

from __future__ import annotations

import os
import re
import socket
import sqlite3
import threading
from pathlib import Path

from tests.support.cli import run_studio

INFO_LINE = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ INFO ")
TOKEN = "7654321098:AAF-operator-test-secret-token-value"


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_one_clear_line(result, *, says: str, code: int = 1) -> str:  # type: ignore[no-untyped-def]
    output = result.stdout + result.stderr
    assert result.returncode == code, output[-3000:]
    assert "Traceback" not in output, output[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.strip() and not INFO_LINE.match(line)]
    assert len(errors) == 1, result.stderr[-3000:]
    assert says in errors[0], errors[0]
    return errors[0]


def test_an_unreachable_database_is_one_line_naming_the_variable(tmp_path: Path) -> None:
    url = f"postgresql+asyncpg://studio:hunter2-pass@127.0.0.1:{closed_port()}/studio"
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DATABASE_URL": url, "STUDIO_TELEGRAM_TOKEN": TOKEN}
    for command in (("db", "upgrade"), ("retention", "--dry-run"), ("payments",)):
        result = run_studio(*command, env=env, cwd=tmp_path)
        line = assert_one_clear_line(result, says="STUDIO_DATABASE_URL")
        assert "can't open the database" in line and "127.0.0.1" in line
        assert "hunter2-pass" not in result.stdout + result.stderr and TOKEN not in result.stdout + result.stderr


def test_a_data_folder_that_cannot_be_written_is_one_line(tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    result = run_studio("db", "upgrade", env={"STUDIO_DATA_DIR": str(not_a_folder / "data")}, cwd=tmp_path)
    line = assert_one_clear_line(result, says="STUDIO_DATA_DIR")
    assert str(not_a_folder / "data") in line


def test_db_upgrade_says_what_it_did(tmp_path: Path) -> None:
    result = run_studio("db", "upgrade", env={"STUDIO_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert str(tmp_path / "studio.db") in result.stdout and "up to date" in result.stdout
    with sqlite3.connect(tmp_path / "studio.db") as db:
        assert db.execute("select version_num from alembic_version").fetchone()[0] in result.stdout


def test_models_fetch_refuses_an_unknown_name_and_an_unreachable_hub_in_one_line(tmp_path: Path) -> None:
    env = {"STUDIO_DATA_DIR": str(tmp_path), "HF_ENDPOINT": f"http://127.0.0.1:{closed_port()}",
           "HF_HUB_ETAG_TIMEOUT": "2", "HF_HUB_DOWNLOAD_TIMEOUT": "2"}
    unknown = run_studio("models", "fetch", "sdxll", env=env, cwd=tmp_path)
    assert_one_clear_line(unknown, says="unknown base model 'sdxll'", code=2)
    assert "sdxl" in unknown.stderr.split("known:")[1]
    offline = run_studio("models", "fetch", "sdxl", env=env, cwd=tmp_path)
    assert offline.returncode == 1 and "Traceback" not in offline.stderr, offline.stderr[-3000:]
    last = offline.stderr.strip().splitlines()[-1]
    assert "stabilityai/stable-diffusion-xl-base-1.0" in last and "internet" in last, last


def test_finish_into_a_folder_that_cannot_be_made_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    photo = Path(__file__).resolve().parents[1] / "fixtures" / "photos"
    image = next(p for p in sorted(photo.iterdir()) if p.suffix.lower() in {".jpg", ".jpeg"})
    result = run_studio("finish", str(image), "-o", str(blocker / "out"), env={"STUDIO_DATA_DIR": str(tmp_path)},
                        cwd=tmp_path)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error:") and str(blocker / "out") in last, last


def test_grant_refuses_an_unknown_platform_and_takes_credits_with_a_negative_amount(tmp_path: Path) -> None:
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_FREE_CREDITS": "3"}
    typo = run_studio("grant", "telegrm", "42", "5", env=env, cwd=tmp_path)
    assert typo.returncode == 2 and "Traceback" not in typo.stderr, typo.stderr
    assert "telegrm" in typo.stderr and "telegram" in typo.stderr
    username = run_studio("grant", "telegram", "@alice", "5", env=env, cwd=tmp_path)  # ids are numbers
    assert_one_clear_line(username, says="telegram user ids are numbers", code=2)
    given = run_studio("grant", "telegram", "42", "5", env=env, cwd=tmp_path)
    assert given.returncode == 0 and "telegram:42 now has 8 credit(s)" in given.stdout, given.stderr
    taken = run_studio("grant", "telegram", "42", "-3", env=env, cwd=tmp_path)  # README: "give (or take)"
    assert taken.returncode == 0 and "telegram:42 now has 5 credit(s)" in taken.stdout, taken.stderr
    too_many = run_studio("grant", "telegram", "42", "-100", env=env, cwd=tmp_path)
    assert_one_clear_line(too_many, says="not granted: telegram:42 has 5 credit(s)")
    nobody = run_studio("grant", "telegram", "43", "-1", env=env, cwd=tmp_path)  # not "has 3": nobody is there
    assert_one_clear_line(nobody, says="not granted: telegram:43 has no account here")
    with sqlite3.connect(tmp_path / "studio.db") as db:
        assert db.execute("select platform, credits from users").fetchall() == [("telegram", 5)]


def test_refund_with_telegram_unreachable_is_one_line(tmp_path: Path) -> None:
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_TELEGRAM_TOKEN": TOKEN,
           "STUDIO_TELEGRAM_BASE_URL": f"http://127.0.0.1:{closed_port()}/bot"}
    result = run_studio("refund", "some-charge", env=env, cwd=tmp_path)
    assert_one_clear_line(result, says="not refunded: Telegram can't be reached")
    assert TOKEN not in result.stdout + result.stderr


def test_config_masks_the_token_and_calls_an_empty_secret_not_set(tmp_path: Path) -> None:
    """A `.env` made from a template (`STUDIO_S3_ACCESS_KEY_ID=`) showed '(set)' for keys that are empty
    (the storage then uses boto3's chain): the operator is told they are not set."""
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_TELEGRAM_TOKEN": TOKEN, "STUDIO_S3_ACCESS_KEY_ID": "",
           "STUDIO_S3_SECRET_ACCESS_KEY": "", "STUDIO_ACCOUNT_HASH_KEY": "", "STUDIO_DISCORD_TOKEN": ""}
    result = run_studio("config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = dict(line.split(None, 1) for line in result.stdout.splitlines() if len(line.split(None, 1)) == 2)
    assert shown["STUDIO_TELEGRAM_TOKEN"] == "(set)"
    for name in ("STUDIO_S3_ACCESS_KEY_ID", "STUDIO_S3_SECRET_ACCESS_KEY", "STUDIO_ACCOUNT_HASH_KEY",
                 "STUDIO_DISCORD_TOKEN"):
        assert shown[name] == "(not set)", (name, shown[name])
    for part in TOKEN.split(":"):
        assert part not in result.stdout + result.stderr


def test_generate_refuses_an_unknown_style_in_one_line(tmp_path: Path) -> None:
    result = run_studio("generate", str(tmp_path / "lora"), "--style", "linkedin", env={"STUDIO_DATA_DIR": str(tmp_path)},
                        cwd=tmp_path)
    assert_one_clear_line(result, says="unknown style(s) linkedin; `studio styles` lists them", code=2)


def test_library_progress_bars_stay_out_of_the_log(tmp_path: Path) -> None:
    """The worker's log (data/worker.log, or the service's stderr) got tqdm bars from transformers
    ('Loading weights:   0%|...', 'Writing model shards') in the middle of its one-line-per-event
    records; a log that is not a terminal gets none."""
    import subprocess
    import sys

    script = tmp_path / "worker_like.py"
    script.write_text("from config.logs import configure_logging\n"
                      "configure_logging('INFO')\n"
                      "import logging, warnings\n"
                      "from transformers.utils import logging as hf_logging\n"
                      "for _ in hf_logging.tqdm(range(3), desc='Loading weights'): pass\n"
                      "warnings.warn('a library warning')\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2],
                            env={k: v for k, v in os.environ.items() if "PROGRESS" not in k and "TQDM" not in k})
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Loading weights" not in result.stderr and "it/s" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "WARNING" in lines[0] and "UserWarning: a library warning" in lines[0], result.stderr


def test_the_worker_refuses_a_model_it_cannot_serve_instead_of_failing_every_job(tmp_path: Path) -> None:
    """STUDIO_BASE_MODEL=sdxl without its weights (the hub is never reached at run time) or a misspelt
    model started a worker that claimed every job and failed it, retry after retry: it refuses to start
    (exit 2, so `studio run` stops the bots too) with one line saying what to do."""
    base = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DEVICE": "cpu"}
    unknown = run_studio("worker", "--once", env=base | {"STUDIO_BASE_MODEL": "sdxll"}, cwd=tmp_path)
    assert_one_clear_line(unknown, says="unknown base model 'sdxll'", code=2)
    missing = run_studio("worker", "--once", env=base | {"STUDIO_BASE_MODEL": "sdxl"}, cwd=tmp_path)
    line = assert_one_clear_line(missing, says="weights for base model 'sdxl' are not in", code=2)
    assert "studio models fetch sdxl" in line


def test_a_device_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    base = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_BASE_MODEL": "tiny"}
    typo = run_studio("worker", "--once", env=base | {"STUDIO_DEVICE": "gpu"}, cwd=tmp_path)
    assert_one_clear_line(typo, says="STUDIO_DEVICE", code=2)
    import torch

    if not torch.cuda.is_available():
        absent = run_studio("worker", "--once", env=base | {"STUDIO_DEVICE": "cuda"}, cwd=tmp_path)
        line = assert_one_clear_line(absent, says="STUDIO_DEVICE=cuda", code=2)
        assert "CUDA is not available" in line


def test_the_demo_stops_with_the_reason_when_the_worker_refuses_to_start(tmp_path: Path) -> None:
    """`make run` without a token and with STUDIO_BASE_MODEL=sdxl but no weights: the worker refuses to
    start, and the demo waited 30 minutes for a training nobody would run. It stops at once and says why."""
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DEVICE": "cpu", "STUDIO_BASE_MODEL": "sdxl",
           "STUDIO_PHOTO_CHECK_WORKERS": "0"}
    result = run_studio("run", env=env, cwd=tmp_path)
    assert result.returncode == 2, (result.stdout + result.stderr)[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("The demo stopped early: the engine worker exited (code 2)"), last
    assert "weights for base model 'sdxl' are not in" in last and str(tmp_path / "worker.log") in last


def test_a_misspelt_variable_is_named_not_silently_ignored(tmp_path: Path) -> None:
    """STUDIO_TELEGRAM_TOKN=... (in the environment or .env) was ignored without a word: the bot then
    played the terminal demo and the operator had no clue why."""
    (tmp_path / ".env").write_text(f"STUDIO_FREE_CREDIT=5\nOTHER_TOOL=1\n")
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_TELEGRAM_TOKN": TOKEN, "STUDIO_TEST_REQUIRE_POSTGRES": "1"}
    result = run_studio("config", env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert len(warnings) == 2, result.stderr
    assert any("STUDIO_TELEGRAM_TOKN is not a setting" in w and "STUDIO_TELEGRAM_TOKEN" in w for w in warnings)
    assert any("STUDIO_FREE_CREDIT is not a setting" in w and ".env" in w and "STUDIO_FREE_CREDITS" in w
               for w in warnings)
    assert TOKEN not in result.stdout + result.stderr


def test_config_shows_the_effective_paths_not_none(tmp_path: Path) -> None:
    """`studio config` ("the effective configuration") printed None for the storage and models folders and
    nothing for the database: an operator could not see where the data goes."""
    result = run_studio("config", env={"STUDIO_DATA_DIR": str(tmp_path)}, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shown = dict(line.split(None, 1) for line in result.stdout.splitlines() if len(line.split(None, 1)) == 2)
    assert shown["STUDIO_DATABASE_URL"] == f"(default) sqlite+aiosqlite:///{tmp_path}/studio.db"
    assert shown["STUDIO_STORAGE_DIR"] == f"(default) {tmp_path / 'storage'}"
    assert shown["STUDIO_MODELS_DIR"] == f"(default) {tmp_path / 'models'}"
    assert "None" not in result.stdout


def test_runpod_without_an_endpoint_id_is_a_configuration_line(tmp_path: Path) -> None:
    key = "rpa_operator_test_key_0123456789"
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_ENGINE_BACKEND": "runpod", "STUDIO_RUNPOD_API_KEY": key}
    result = run_studio("worker", "--once", env=env, cwd=tmp_path)
    assert_one_clear_line(result, says="Configuration error: STUDIO_RUNPOD_ENDPOINT_ID is not set", code=2)
    assert key not in result.stdout + result.stderr


def test_storage_that_cannot_be_written_stops_start_up_in_one_line(tmp_path: Path) -> None:
    """S3 storage with a wrong endpoint (or bucket, or keys) started the bots with 'ready: ... storage s3'
    and failed at the first user's first photo: start-up writes a probe and says what to check."""
    secret = "operator-test-s3-secret-0123456789"
    env = {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_STORAGE_BACKEND": "s3", "STUDIO_S3_BUCKET": "portraits",
           "STUDIO_S3_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}", "STUDIO_S3_ACCESS_KEY_ID": "AKIATEST",
           "STUDIO_S3_SECRET_ACCESS_KEY": secret, "STUDIO_BASE_MODEL": "tiny", "STUDIO_DEVICE": "cpu"}
    result = run_studio("run", env=env, cwd=tmp_path)
    line = assert_one_clear_line(result, says="Storage error: can't write to S3 bucket portraits")
    assert "STUDIO_S3_ENDPOINT_URL" in line and "engine worker started" not in result.stderr
    assert secret not in result.stdout + result.stderr


def test_the_interactive_demo_says_when_the_worker_is_gone(tmp_path: Path) -> None:
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DEVICE": "cpu", "STUDIO_BASE_MODEL": "sdxl",
            "STUDIO_PHOTO_CHECK_WORKERS": "0"}
    demo = subprocess.Popen([sys.executable, "-m", "studio.cli", "demo"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=tmp_path)
    guard = threading.Timer(90, demo.kill)  # a demo that never says it ends the loop below, and fails
    guard.start()
    try:
        seen = []
        assert demo.stdout is not None and demo.stdin is not None
        for line in demo.stdout:
            seen.append(line)
            if "engine worker exited" in line:
                break
        demo.stdin.write("/quit\n")
        demo.stdin.flush()
        demo.wait(60)
    finally:
        guard.cancel()
        demo.kill()
    notice = seen[-1] if seen else ""
    assert "engine worker exited (code 2)" in notice and "weights for base model 'sdxl'" in notice, "".join(seen)


def test_a_message_with_line_breaks_is_still_one_log_line(tmp_path: Path) -> None:
    """A database error's text ('... \\n[SQL: ...]\\n(Background on this error ...)') logged as a job's
    failure became three lines in the journal, two of them without time or level."""
    import subprocess
    import sys

    script = ("from config.logs import configure_logging\n"
              "import logging\n"
              "configure_logging('INFO')\n"
              "logging.getLogger('engine.runtime.worker').warning('job 7 failed: %s', "
              "'(sqlite3.OperationalError) disk I/O error\\n[SQL: UPDATE jobs]\\n(Background on this error)')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            cwd=Path(__file__).resolve().parents[2])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "WARNING" in lines[0] and "[SQL: UPDATE jobs]" in lines[0], result.stderr


def test_a_model_hub_warning_is_one_formatted_record(tmp_path: Path) -> None:
    """huggingface_hub logs through a stderr handler of its own as well as to the root logger: each of its
    warnings (a download retried, a cache that can't be written) came out twice, once raw and unredacted."""
    import subprocess
    import sys

    script = ("from config.logs import configure_logging\n"
              "configure_logging('INFO')\n"
              "import engine.pipelines\n"
              "from huggingface_hub.utils import logging as hub_logging\n"
              "hub_logging.get_logger('huggingface_hub.file_download').warning('a hub warning')\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            cwd=Path(__file__).resolve().parents[2])
    lines = [line for line in result.stderr.splitlines() if "a hub warning" in line]
    assert len(lines) == 1 and "WARNING huggingface_hub.file_download: a hub warning" in lines[0], result.stderr


def test_a_second_sigterm_is_not_a_second_stop_line(tmp_path: Path) -> None:
    """Under systemd (or `timeout`, or Docker) SIGTERM goes to the whole group, and `studio run` then
    terminates its worker itself: the worker logged 'stop requested' twice for one stop."""
    import signal
    import subprocess
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("STUDIO_")}
    env |= {"STUDIO_DATA_DIR": str(tmp_path), "STUDIO_DEVICE": "cpu", "STUDIO_BASE_MODEL": "tiny"}
    worker = subprocess.Popen([sys.executable, "-m", "studio.cli", "worker"], stderr=subprocess.PIPE, text=True,
                              env=env, cwd=tmp_path)
    guard = threading.Timer(120, worker.kill)
    guard.start()
    try:
        assert worker.stderr is not None
        seen = []
        for line in worker.stderr:
            seen.append(line)
            if "engine.runtime.worker: worker" in line and "started" in line:
                break
        worker.send_signal(signal.SIGTERM)
        time.sleep(0.05)
        worker.send_signal(signal.SIGTERM)
        seen += worker.stderr.readlines()
        worker.wait(60)
    finally:
        guard.cancel()
        worker.kill()
    assert worker.returncode == 0, "".join(seen)
    assert sum("stop requested" in line for line in seen) == 1, "".join(seen)


def test_only_a_file_or_folder_of_the_set_up_is_explained_in_one_line() -> None:
    """A path that can't be written is the operator's to fix; an OSError with no path (a socket, a
    broken pipe) or of another kind is a bug's, and keeps its traceback."""
    import errno

    from studio.failures import explain

    assert explain(PermissionError(errno.EACCES, "Permission denied", "/srv/out")) == (
        "Error: Permission denied: /srv/out", 1)
    assert explain(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")) is None
    assert explain(OSError("something odd")) is None
