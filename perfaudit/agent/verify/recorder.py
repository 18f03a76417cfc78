"""An ASGI wrapper that fingerprints every response (status and a hash of the body) under
the side of the experiment it was served on, so a change that alters what the app answers
is caught."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Fingerprint = tuple[int, str]


class Recorder:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.side = False  # whether the change is in effect
        self.responses: dict[bool, Counter[Fingerprint]] = {False: Counter(), True: Counter()}

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        status = 0
        body = hashlib.blake2b(digest_size=16)
        side = self.side

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                body.update(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            self.responses[side][(status, body.hexdigest())] += 1

    def behaviour_change(self) -> str:
        """Why the responses with the change differ from those without it, or ""."""
        before, after = set(self.responses[False]), set(self.responses[True])
        if not before or not after:
            return ""
        if len(before) == 1:  # the app answers the same every time: every answer must match
            if after != before:
                return _difference(before, after)
            return ""
        # The body varies by itself (a timestamp, an id): only the statuses can be compared.
        statuses_before = {s for s, _ in before}
        statuses_after = {s for s, _ in after}
        if statuses_after != statuses_before:
            return f"statuses {sorted(statuses_before)} became {sorted(statuses_after)}"
        return ""


def _difference(before: set[Fingerprint], after: set[Fingerprint]) -> str:
    (status, _), *_ = before
    changed = sorted({s for s, _ in after})
    if changed != [status]:
        return f"status {status} became {', '.join(map(str, changed))}"
    return f"the response body differs with the change (status {status} both ways)"
