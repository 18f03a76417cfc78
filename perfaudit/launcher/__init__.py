"""The CLI's side of an in-process run: choose the app's interpreter, start the agent
(perfaudit.agent) in it, and turn its messages back into a Session or an error."""

from perfaudit.agent.lifespan import STARTUP_TIMEOUT_S

# Seconds the app may take to import (some load models or data at import), and then its
# lifespan to start: `--startup-timeout`.
DEFAULT_STARTUP_TIMEOUT_S = STARTUP_TIMEOUT_S
