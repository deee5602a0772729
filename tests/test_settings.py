"""The deployment settings: production-like environment passes `check --deploy`."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(*args, env_extra):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS"}}
    env.update(env_extra)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "DEBUG": "False",
    "SECRET_KEY": "x" * 64 + "-production-like-secret-for-check-deploy",
    "ALLOWED_HOSTS": "scout.example.com",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def test_check_deploy_passes_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env_extra=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_secret_key_with_debug_off_is_a_startup_error():
    env = dict(PRODUCTION)
    env["SECRET_KEY"] = ""
    result = _manage("check", env_extra=env)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_in_memory_layer_in_production_is_refused():
    env = dict(PRODUCTION)
    env["REDIS_URL"] = ""
    result = _manage("check", env_extra=env)
    assert result.returncode != 0
    assert "activity.E001" in result.stderr
