"""The prediction log's format, shared by the model servers that write records and the
monitor that keeps them: Arrow record batches on the wire, Parquet in the store.

One row per prediction: its ID, the request's ID, when, where it was served (namespace,
deployment, model, version, track), the inputs as a struct (one field per feature the
deployment does not exclude), the prediction, class probabilities for classifiers and
the request's latency. In the store rows are partitioned the Hive way (the path names
the model and version, so the files leave those two columns out), and DuckDB, pandas,
Spark or Trino read a model, a version or an hour without our code::

    <root>/predictions/model=<model>/version=<version>/hour=<YYYY-MM-DDTHH>/<part>.parquet
"""

from __future__ import annotations

import io

import pyarrow as pa

ID = "id"
REQUEST_ID = "request_id"
TIME = "time"
NAMESPACE = "namespace"
DEPLOYMENT = "deployment"
MODEL = "model"
VERSION = "version"
TRACK = "track"
INPUTS = "inputs"
PREDICTION = "prediction"
PROBABILITIES = "probabilities"
LATENCY_MS = "latency_ms"

#: Columns every batch must carry (inputs, probabilities and latency may be absent).
REQUIRED = (ID, REQUEST_ID, TIME, NAMESPACE, DEPLOYMENT, MODEL, VERSION, TRACK, PREDICTION)
TIME_TYPE = pa.timestamp("ms", tz="UTC")
PREDICTIONS_FOLDER = "predictions"
HOUR_FORMAT = "%Y-%m-%dT%H"


class RecordsError(ValueError):
    """A batch that is not prediction records: refused, naming what is wrong."""


def to_ipc(batch: pa.RecordBatch | pa.Table) -> bytes:
    """A batch as an Arrow IPC stream (the body model servers send)."""
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write(batch)
    return sink.getvalue()


def from_ipc(data: bytes) -> pa.Table:
    """The records of an IPC stream, checked; a :class:`RecordsError` if they are not."""
    try:
        table = pa.ipc.open_stream(data).read_all()
    except (pa.ArrowInvalid, OSError) as error:
        raise RecordsError(f"body: not an Arrow IPC stream: {error}") from None
    missing = [name for name in REQUIRED if name not in table.column_names]
    if missing:
        raise RecordsError(f"body: missing columns {', '.join(missing)}")
    for name in (ID, REQUEST_ID, NAMESPACE, DEPLOYMENT, MODEL, VERSION, TRACK):
        if not pa.types.is_string(table.schema.field(name).type):
            raise RecordsError(f"{name}: expected strings, got {table.schema.field(name).type}")
        if table.column(name).null_count:
            raise RecordsError(f"{name}: null values")
    if table.schema.field(TIME).type != TIME_TYPE:
        raise RecordsError(f"{TIME}: expected {TIME_TYPE}, got {table.schema.field(TIME).type}")
    return table


def partition(model: str, version: str, hour: str) -> str:
    """The folder (below the log's root) of one model version's hour."""
    return f"{PREDICTIONS_FOLDER}/{MODEL}={model}/{VERSION}={version}/hour={hour}"
