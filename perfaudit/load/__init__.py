"""How to drive the app: the request plan and the in-process driver."""
