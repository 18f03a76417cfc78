"""A notification service whose settings are read again on every request.

Planted bottleneck: the `get_settings()` dependency returns `Settings()` — a
pydantic-settings BaseSettings that reads the environment and a .env file and validates
twenty fields (several milliseconds) — without `@lru_cache`, so every request builds it
again. perfaudit should rank per-request-setup first at `get_settings` and suggest
`@functools.lru_cache` on it (FastAPI's settings pattern).

`get_settings` is a plain `def`, as in FastAPI's documentation: FastAPI runs it on a
worker thread, so the rebuilding costs every request its time without stalling the event
loop. The .env file is written by the lifespan into the temporary folder and deleted at
shutdown.

    perfaudit profile sample_apps.settings_app:app /features /health -c 8
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

# One file per process, so that runs side by side never share (or delete) each other's.
ENV_FILE = Path(tempfile.gettempdir()) / f"perfaudit-settings-app-{os.getpid()}.env"
ENV_LINES = (
    "APP_NAME=notifications",
    "ENVIRONMENT=staging",
    "DATABASE_URL=postgresql://notify@db.internal:5432/notify",
    "REDIS_URL=redis://cache.internal:6379/2",
    "SMTP_HOST=smtp.example.com",
    "SMTP_PORT=587",
    "SMTP_USER=mailer",
    "SMTP_PASSWORD=not-a-real-password",
    "SENDER_ADDRESS=noreply@example.com",
    'ALLOWED_ORIGINS=["https://app.example.com","https://admin.example.com"]',
    "RATE_LIMIT_PER_MINUTE=120",
    "DIGEST_HOUR=7",
    "DEFAULT_LOCALE=en-GB",
    "FEATURE_EMAIL_DIGEST=true",
    "FEATURE_PUSH=true",
    "FEATURE_SMS=false",
    "FEATURE_QUIET_HOURS=true",
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=ENV_FILE, extra="ignore")

    app_name: str = "notifications"
    environment: str = "development"
    database_url: str = "sqlite:///./notify.db"
    redis_url: str = "redis://localhost:6379/0"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr = SecretStr("")
    sender_address: str = "noreply@localhost"
    allowed_origins: list[str] = []
    rate_limit_per_minute: int = 60
    digest_hour: int = 8
    default_locale: str = "en-US"
    sentry_dsn: str | None = None
    feature_email_digest: bool = False
    feature_push: bool = False
    feature_sms: bool = False
    feature_quiet_hours: bool = False
    feature_web_push: bool = False
    feature_slack: bool = False


def get_settings() -> Settings:
    return Settings()  # rebuilt on every request: no @lru_cache


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    ENV_FILE.write_text("\n".join(ENV_LINES) + "\n", encoding="utf-8")
    try:
        yield
    finally:
        ENV_FILE.unlink(missing_ok=True)


app = FastAPI(title="notifications", lifespan=lifespan)
SettingsDep = Annotated[Settings, Depends(get_settings)]


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/features")
async def features(settings: SettingsDep) -> dict[str, bool]:
    return {
        "email_digest": settings.feature_email_digest,
        "push": settings.feature_push,
        "sms": settings.feature_sms,
        "quiet_hours": settings.feature_quiet_hours,
    }
