"""Built-in trainer of the runtime image: ``mlops-runtime train``.

Pure parts (spec parsing, validation, the per-column preprocessing plan
(:mod:`.preprocessing_spec`, :mod:`.preprocessing`) and the pipeline it describes
(:mod:`.pipeline`), metrics, statistics, the termination message) live in their own
modules so they can be tested without I/O; only
:mod:`.data` (dataset fetching), :mod:`.artifacts` (the artifact store) and
:mod:`.main` touch the outside world.
"""
