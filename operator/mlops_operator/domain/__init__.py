"""The decision layer: pure functions and small state machines, no I/O.

Nothing here imports kopf, kubernetes or an HTTP client. Every function takes
plain data (dicts as stored in the API, dataclasses, an explicit ``now``) and
returns a decision as data, so the handlers stay thin and every rule is tested
as a table of cases.
"""
