"""A login endpoint that hashes the password on the event loop.

Planted bottleneck: `verify_password()` derives the key with `hashlib.pbkdf2_hmac(...)`
inside the `async def` POST /login: ~16 ms of CPU per login during which the event loop
runs nothing else. The hash is slow on purpose, so the fix is to move it off the loop
(`await anyio.to_thread.run_sync(verify_password, ...)`, or a `def` route), never to cache
it. perfaudit should report event-loop-blocked at `verify_password` and must not suggest
functools.lru_cache.

The user store is built by the lifespan. The iteration count is far below what a real
service should use (OWASP suggests 600,000 for PBKDF2-SHA256), to keep the demo quick.

    perfaudit profile sample_apps.auth:app "POST /login" /health -c 8 \
        -d '{"username": "ada", "password": "correct horse battery staple"}'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import FastAPI, HTTPException, Request
from pydantic import BaseModel

PBKDF2_ITERATIONS = 50_000  # ~16 ms here


class Credentials(BaseModel):
    username: str
    password: str


class Token(BaseModel):
    access_token: str
    token_type: str = "bearer"


@dataclass(frozen=True, slots=True)
class UserRecord:
    username: str
    salt: bytes
    password_hash: bytes


def new_user(username: str, password: str) -> UserRecord:
    salt = os.urandom(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ITERATIONS)
    return UserRecord(username=username, salt=salt, password_hash=digest)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, dict[str, UserRecord]]]:
    users = [new_user("ada", "correct horse battery staple"), new_user("grace", "hunter2")]
    yield {"users": {user.username: user for user in users}}


app = FastAPI(title="auth", lifespan=lifespan)


def verify_password(password: str, user: UserRecord) -> bool:
    candidate = hashlib.pbkdf2_hmac("sha256", password.encode(), user.salt, PBKDF2_ITERATIONS)
    return hmac.compare_digest(candidate, user.password_hash)


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/login")
async def login(credentials: Credentials, request: Request) -> Token:
    user = request.state.users.get(credentials.username)
    if user is None or not verify_password(credentials.password, user):
        raise HTTPException(status_code=401, detail="wrong username or password")
    return Token(access_token=secrets.token_urlsafe(24))
