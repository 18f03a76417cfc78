"""The CLI's side of an in-process run: choose the app's interpreter, start the agent
(perfaudit.agent) in it, and turn its messages back into a Session or an error."""
