"""Fetch, parse, validate and split the dataset.

Fetching (:func:`fetch_bytes`) is the only I/O here. The fingerprint is the
sha256 of the exact bytes fetched, so it identifies the data the model saw even
when the trainer later transforms columns (``columnScale``).
"""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pandas as pd
from sklearn import datasets as sk_datasets
from sklearn.model_selection import train_test_split

from mlops_runtime.stores import S3_ENDPOINT_ENV
from mlops_runtime.trainer.errors import TrainerError
from mlops_runtime.trainer.spec import DatasetSpec

HTTP_TIMEOUT_SECONDS = 30.0

#: scikit-learn's bundled datasets: shipped inside the wheel, no download.
SKLEARN_DATASETS: dict[str, Callable[..., Any]] = {
    "iris": sk_datasets.load_iris,
    "wine": sk_datasets.load_wine,
    "breast_cancer": sk_datasets.load_breast_cancer,
    "diabetes": sk_datasets.load_diabetes,
    "digits": sk_datasets.load_digits,
}


@dataclass(frozen=True)
class Fetched:
    """The raw bytes of the dataset and how to parse them."""

    data: bytes
    format: str


@dataclass(frozen=True)
class Prepared:
    """The feature columns (raw, in order; :mod:`.preprocessing` types them) and the target."""

    features: tuple[str, ...]
    frame: pd.DataFrame
    y: np.ndarray


@dataclass(frozen=True)
class Split:
    """Train and held-out test partitions (matrices or frames, as the plan says)."""

    x_train: np.ndarray | pd.DataFrame
    x_test: np.ndarray | pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    #: Positions of the held-out rows in the dataset, so another model (the champion)
    #: can be scored on exactly these rows from their raw values.
    test_rows: np.ndarray
    #: Positions in the dataset of the training rows (in x_train's order).
    train_rows: np.ndarray


def _unreachable(uri: str, cause: object) -> TrainerError:
    return TrainerError("DatasetUnreachable", f"cannot read dataset {uri}: {cause}")


def infer_format(uri: str, declared: str | None) -> str:
    """The declared format, else guessed from the file extension (CSV by default)."""
    if declared:
        return declared
    path = urlparse(uri).path.lower()
    return "parquet" if path.endswith((".parquet", ".pq")) else "csv"


def sklearn_csv_bytes(name: str) -> bytes:
    """CSV bytes of a bundled dataset, deterministic so its fingerprint is stable."""
    if name not in SKLEARN_DATASETS:
        raise TrainerError(
            "DatasetUnreachable",
            f"unknown bundled dataset sklearn://{name}; "
            f"available: {', '.join(sorted(SKLEARN_DATASETS))}",
        )
    frame = SKLEARN_DATASETS[name](as_frame=True).frame
    return frame.to_csv(index=False, lineterminator="\n").encode("utf-8")


def _http_bytes(uri: str) -> bytes:
    request = urllib.request.Request(uri, headers={"User-Agent": "mlops-runtime-trainer"})
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_SECONDS) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as error:
        raise _unreachable(uri, f"HTTP {error.code} {error.reason}") from None
    except urllib.error.URLError as error:
        raise _unreachable(uri, error.reason) from None
    except (OSError, ValueError) as error:  # timeouts, resets, bad URLs
        raise _unreachable(uri, error) from None


def _s3_bytes(uri: str, endpoint: str | None) -> bytes:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise _unreachable(uri, "boto3 is not installed in this image") from None
    parsed = urlparse(uri)
    bucket, key = parsed.netloc, parsed.path.lstrip("/")
    if not bucket or not key:
        raise _unreachable(uri, "an s3 URI needs a bucket and a key: s3://bucket/key")
    config = Config(
        connect_timeout=HTTP_TIMEOUT_SECONDS,
        read_timeout=HTTP_TIMEOUT_SECONDS,
        retries={"max_attempts": 2},
    )
    try:
        # No dataset.s3.endpoint: the same endpoint as the artifact store (MLOPS_S3_ENDPOINT).
        endpoint = endpoint or os.environ.get(S3_ENDPOINT_ENV) or None
        client = boto3.client("s3", endpoint_url=endpoint, config=config)
        return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception as error:  # botocore raises many unrelated types
        raise _unreachable(uri, error) from None


def _store_bytes(uri: str) -> bytes:
    from mlops_runtime.trainer.artifacts import read_uri

    try:
        return read_uri(uri)
    except Exception as error:  # any store failure means we could not read it
        raise _unreachable(uri, error) from None


def fetch_bytes(spec: DatasetSpec) -> Fetched:
    """Read the dataset's bytes from wherever its URI points."""
    uri = spec.uri
    scheme = urlparse(uri).scheme
    if scheme == "sklearn":
        return Fetched(sklearn_csv_bytes(uri[len("sklearn://") :].strip("/")), "csv")
    fmt = infer_format(uri, spec.format)
    if scheme in ("http", "https"):
        return Fetched(_http_bytes(uri), fmt)
    if scheme == "s3":
        return Fetched(_s3_bytes(uri, spec.s3_endpoint), fmt)
    if scheme in ("file", "pvc"):
        return Fetched(_store_bytes(uri), fmt)
    raise _unreachable(uri, f"unsupported scheme {scheme!r}; use sklearn, file, pvc, http(s) or s3")


def parse_table(fetched: Fetched, uri: str) -> pd.DataFrame:
    """Parse CSV or Parquet bytes into a frame; any parser failure is a malformed dataset."""
    try:
        if fetched.format == "parquet":
            frame = pd.read_parquet(io.BytesIO(fetched.data))
        else:
            frame = pd.read_csv(io.BytesIO(fetched.data))
    except Exception as error:  # pandas/pyarrow raise many types for bad input
        detail = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise TrainerError(
            "DatasetMalformed", f"cannot parse {uri} as {fetched.format}: {detail}"
        ) from None
    frame.columns = [str(column) for column in frame.columns]
    if frame.empty:
        raise TrainerError("DatasetMalformed", f"dataset {uri} has no rows")
    return frame


def _names(columns: list[str], limit: int = 20) -> str:
    shown = ", ".join(repr(c) for c in columns[:limit])
    return shown + (f", ... ({len(columns)} in all)" if len(columns) > limit else "")


def prepare(frame: pd.DataFrame, spec: DatasetSpec, task: str) -> Prepared:
    """Check that the target and the features exist and select them; pure."""
    columns = list(frame.columns)
    if spec.target not in frame.columns:
        raise TrainerError(
            "MissingTargetColumn",
            f"target column {spec.target!r} is not in the dataset; columns: {_names(columns)}",
        )
    features = list(spec.features or [c for c in columns if c != spec.target])
    if not features:
        raise TrainerError("DatasetMalformed", "dataset has no feature columns besides the target")
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise TrainerError(
            "MissingFeature",
            f"feature column{'s' if len(missing) > 1 else ''} {_names(missing)} not in the "
            f"dataset; columns: {_names(columns)}",
        )
    unknown_scaled = [c for c in spec.column_scale if c not in features]
    if unknown_scaled:
        raise TrainerError(
            "MissingFeature",
            f"columnScale names {_names(unknown_scaled)}, which "
            f"{'is' if len(unknown_scaled) == 1 else 'are'} not among the features",
        )
    return Prepared(tuple(features), frame[features].copy(), _target(frame[spec.target], task))


def _target(series: pd.Series, task: str) -> np.ndarray:
    name = series.name
    empty = np.flatnonzero(series.isna().to_numpy())
    if len(empty):
        rows = ", ".join(str(int(i) + 1) for i in empty[:5]) + (", ..." if len(empty) > 5 else "")
        raise TrainerError(
            "DatasetMalformed",
            f"target column {name!r} has {len(empty)} missing value(s) (data rows {rows}); "
            "drop those rows or fill them in",
        )
    numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
    if task == "regression":
        if not numeric:
            raise TrainerError(
                "DatasetMalformed",
                f"target column {name!r} is not numeric (dtype {series.dtype}); "
                "regression needs a numeric target",
            )
        return series.astype("float64").to_numpy(copy=True)
    if pd.api.types.is_bool_dtype(series):
        return series.astype("int64").to_numpy(copy=True)
    if numeric:
        values = series.to_numpy(copy=True)
        if pd.api.types.is_float_dtype(series) and np.all(np.mod(values, 1) == 0):
            values = values.astype("int64")  # 0.0/1.0 labels: integer classes for ONNX
        y = values
    else:
        y = series.astype(str).to_numpy(dtype=object, copy=True)
    if len(np.unique(y)) < 2:
        raise TrainerError("DatasetMalformed", f"target column {name!r} has a single class")
    return y


def split(x: np.ndarray | pd.DataFrame, y: np.ndarray, spec: DatasetSpec, task: str) -> Split:
    """Seeded train/test split of the model inputs, stratified for classification."""
    if len(y) < 2:
        raise TrainerError("DatasetMalformed", "dataset needs at least 2 rows to split")
    try:
        x_train, x_test, y_train, y_test, train_rows, test_rows = train_test_split(
            x,
            y,
            np.arange(len(y)),
            test_size=spec.test_fraction,
            random_state=spec.random_seed,
            stratify=y if task == "classification" else None,
        )
    except ValueError as error:
        raise TrainerError(
            "DatasetMalformed", f"cannot split {len(y)} rows into train/test: {error}"
        ) from None
    return Split(x_train, x_test, y_train, y_test, test_rows, train_rows)
