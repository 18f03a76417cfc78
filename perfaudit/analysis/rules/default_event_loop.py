"""default-event-loop: uvicorn would serve the app on asyncio's own event loop and the
pure-Python h11 parser, because uvloop or httptools is not installed (or the live server
ran without them).

Deliberately not measured: perfaudit drives the app in-process, with no socket and no
HTTP parsing, which is where uvloop and httptools earn their gain. An in-process A/B of
the two loops would time callback scheduling only and understate it, so the finding
states the facts of the environment, cites the published gain, and stays `low`.
"""

from __future__ import annotations

from collections.abc import Iterator

from perfaudit.analysis.context import AnalysisContext
from perfaudit.analysis.findings import Finding, Severity
from perfaudit.analysis.sampling import ServerStack, server_stack
from perfaudit.model import Environment

# What the switch gained where it was measured over sockets (research notes, P17): cited,
# not measured here.
PUBLISHED_GAIN = (
    "uvicorn with uvloop and httptools served a trivial route about 2x faster than with "
    "asyncio and h11 on this kind of machine (httptools alone about +40%); uvloop's own "
    "benchmarks claim 2-4x for socket-heavy servers"
)


class DefaultEventLoop:
    id = "default-event-loop"
    title = "The server would run on asyncio's loop and the h11 parser"
    explanation = (
        "uvicorn picks its event loop and HTTP parser at start-up: uvloop and httptools "
        "when they are installed (`uvicorn[standard]`), otherwise asyncio's own loop and the "
        "pure-Python h11 parser, which cost more per request on cheap routes. perfaudit reads "
        "what is installed where it runs (and, for a live server, which loop it used). It "
        "does not measure the difference in-process, where no socket or HTTP parsing "
        "happens, so the finding stays `low`: check the packages of the image you deploy.\n\n"
        "Example: uvloop 0.21 is installed but httptools is not, so `uvicorn main:app` parses "
        "HTTP with h11. Install `uvicorn[standard]` (or add httptools) in the production image."
    )

    def check(self, ctx: AnalysisContext) -> Iterator[Finding]:
        env = ctx.session.environment
        if ctx.session.sampling is not None:  # attach: the live server's own frames tell
            seen = server_stack(ctx.session.sampling)
            loop = seen.loop or env.loop
            if seen.server == "uvicorn" and (loop == "asyncio" or seen.http == "h11"):
                yield self._seen_finding(env, seen)
            return
        # Without uvicorn we cannot tell which server runs the app, nor its knobs; and
        # `perfaudit load` only knows the client's machine, not the server's.
        if "uvicorn" not in env.packages or ctx.session.mode == "load":
            return
        missing = _missing(env)
        # A live server tells which loop it ran; an in-process run's loop is perfaudit's.
        unused = ctx.session.mode == "attach" and env.loop != "uvloop" and "uvloop" not in missing
        if missing or unused:
            yield self._finding(env, missing, unused)

    def _finding(self, env: Environment, missing: list[str], unused: bool) -> Finding:
        fallbacks = [FALLBACK[name] for name in (["uvloop"] if unused else []) + missing]
        why = (
            f"{', '.join(missing)} not installed"
            if missing
            else "uvloop is installed but was not used"
        )
        return Finding(
            id=self.id,
            severity=Severity.LOW,
            title=f"uvicorn {'ran' if unused else 'would run'} this app on "
            f"{' and '.join(fallbacks)}: {why}",
            route=None,
            location=None,  # the fix is in the deployment's packages or flags, not the code
            evidence={
                "loop_used_by_this_run": env.loop,
                "uvicorn": env.packages.get("uvicorn", ""),
                "uvloop": env.packages.get("uvloop", "not installed"),
                "httptools": env.packages.get("httptools", "not installed"),
                "platform": env.platform,
            },
            suggestion=_suggestion(env, unused and not missing),
            impact=0.0,  # not measured here: it never outranks a measured finding
            confidence=0.3,
        )

    def _seen_finding(self, env: Environment, seen: ServerStack) -> Finding:
        loop = seen.loop or env.loop
        fallbacks = [FALLBACK["uvloop"]] if loop == "asyncio" else []
        fallbacks += [FALLBACK["httptools"]] if seen.http == "h11" else []
        return Finding(
            id=self.id,
            severity=Severity.LOW,
            title=f"uvicorn ran this app on {' and '.join(fallbacks)} (seen in its stacks)",
            route=None,
            location=None,
            evidence={"loop_seen": loop, "http_seen": seen.http or "unknown"},
            suggestion=(
                "Install `uvicorn[standard]` (uvloop and httptools) in the server's "
                "environment, or start it with `--loop uvloop --http httptools`; with "
                "gunicorn, use uvicorn's worker class in the same environment. For reference, "
                f"{PUBLISHED_GAIN}. Compare throughput with your own load test before and after."
            ),
            impact=0.0,  # not measured here: it never outranks a measured finding
            confidence=0.5,
        )


FALLBACK = {"uvloop": "asyncio's event loop", "httptools": "the h11 HTTP parser"}


def _missing(env: Environment) -> list[str]:
    windows = env.platform.lower().startswith("windows")
    missing = []
    if "uvloop" not in env.packages and not windows:  # uvloop does not exist on Windows
        missing.append("uvloop")
    if "httptools" not in env.packages:
        missing.append("httptools")
    return missing


def _suggestion(env: Environment, only_unused: bool) -> str:
    start = (
        "Start uvicorn with `--loop uvloop` (or leave `--loop auto`, its default)"
        if only_unused
        else "Install `uvicorn[standard]` (uvloop and httptools) in the image you deploy"
    )
    return (
        f"{start}, so `--loop auto` and `--http auto` pick the faster implementations; with "
        f"gunicorn, use uvicorn's worker class in the same environment. For reference, "
        f"{PUBLISHED_GAIN}. This run used the {env.loop} loop in-process, where neither is "
        "measured; compare throughput with your own load test before and after."
    )


RULE = DefaultEventLoop()
