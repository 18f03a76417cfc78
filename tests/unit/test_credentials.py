"""Credentials perfaudit sends never reach a report, even when the app echoes them."""

from __future__ import annotations

import json

from unit_builders import measurement, session

from perfaudit.load.credentials import MASK, redacted, secrets_in
from perfaudit.model import ErrorSample, RouteKey


def test_credential_headers_and_fields_are_found() -> None:
    headers = [
        ("Authorization", "Bearer s3cr3t-token"),
        ("Cookie", "session=abcd1234; theme=dark"),
        ("X-API-Key", "key-5678"),
        ("Accept", "application/json"),
    ]
    found = secrets_in(headers, b'{"email": "ada@example.com", "password": "pw-123456"}')
    assert {"Bearer s3cr3t-token", "s3cr3t-token", "abcd1234", "key-5678", "pw-123456"} <= found
    assert "application/json" not in found and "ada@example.com" not in found
    assert "pw-123456" in secrets_in([], b"username=ada&password=pw-123456")


def test_a_credential_the_app_echoes_is_masked_everywhere() -> None:
    """Issue 17 #11: an app's 401 detail repeated the token: 9 times in the JSON."""
    route = RouteKey("GET", "/me")
    echoed = ErrorSample(
        kind="http-status", message='HTTP 401: {"detail":"bad token Bearer s3cr3t-token"}',
        status=401,
    )  # fmt: skip
    failed = measurement(
        route, durations_ms=[1.0] * 5, errors=5, status_counts={"401": 5}, error_sample=echoed
    )
    leaky = session(measurements=[failed], profiles=[], notes=["token s3cr3t-token seen"])

    safe = redacted(leaky, secrets_in([("Authorization", "Bearer s3cr3t-token")]))

    assert "s3cr3t-token" not in safe.to_json()
    assert safe.measurements[0].error_sample is not None
    assert safe.measurements[0].error_sample.message.endswith(f'bad token {MASK}"}}')
    assert json.loads(safe.to_json())["measurements"][0]["errors"] == 5  # numbers untouched
