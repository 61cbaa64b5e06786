"""Model runtime: the model server and the built-in trainer of the runtime image."""

__version__ = "0.1.0"
