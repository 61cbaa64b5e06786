"""Built-in trainer of the runtime image: ``mlops-runtime train``.

Pure parts (spec parsing, validation, metrics, statistics, the termination
message) live in their own modules so they can be tested without I/O; only
:mod:`.data` (dataset fetching), :mod:`.artifacts` (the artifact store) and
:mod:`.main` touch the outside world.
"""
