"""``mlops-runtime model-card``: the model card of one ModelVersion, as Markdown beside its
artifact (``render`` is pure; ``main`` reads the record and writes the file)."""
