"""Spooled batches -> Parquet in the store, partitioned by model, version and hour.

One flush reads the batches its manifest names, joins each model version's rows into one
table and writes one part per hour they fall in, named after the manifest's first batch:
a flush repeated after a crash rewrites the same parts instead of adding copies.
Retention removes whole hour partitions once they are older than ``retention``.
"""

from __future__ import annotations

import io
import logging
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from mlops_runtime import stores
from mlops_runtime.monitor import labels
from mlops_runtime.monitor.spool import Spool
from mlops_runtime.predictionlog import records

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Flushed:
    """What one flush wrote: rows and Parquet files."""

    rows: int
    files: int


class ParquetWriter:
    """Writes the spool's batches below ``root`` (a ``file://``, ``pvc://`` or ``s3://``
    URI) in the layout of :mod:`mlops_runtime.predictionlog.records`."""

    def __init__(self, root: str, spool: Spool, retention: timedelta | None) -> None:
        self.root = root.rstrip("/")
        self.spool = spool
        self.retention = retention
        self.store = stores.store_for(self.root)

    def flush(self) -> Flushed:
        """Write every spooled batch; the spool forgets them only once they are stored."""
        batches = self.spool.begin()
        if not batches:
            return Flushed(0, 0)
        tables: dict[tuple[str, str], list[pa.Table]] = {}
        for path in batches:
            table = records.from_ipc(path.read_bytes())
            for key, rows in _by_version(table):
                tables.setdefault(key, []).append(rows)
        rows = files = 0
        stem = batches[0].stem
        for (model, version), parts in sorted(tables.items()):
            for table in _joined(parts):
                for hour, hourly in _by_hour(table):
                    uri = (f"{self.root}/{records.partition(model, version, hour)}/"
                           f"part-{stem}-{files:04d}.parquet")
                    # Hive layout: the path names model and version, the files do not.
                    hourly = hourly.drop_columns([records.MODEL, records.VERSION])
                    self.store.write_bytes(uri, _parquet(hourly))
                    rows += hourly.num_rows
                    files += 1
        self.spool.finish(batches)
        return Flushed(rows, files)

    def expire(self, now: datetime) -> int:
        """Remove hour partitions older than the retention; the number removed. Only
        local roots (``file://``, ``pvc://``) for now."""
        local = self.store.local_path(self.root) if self.retention is not None else None
        if local is None or self.retention is None:
            return 0
        cutoff = (now - self.retention).strftime(records.HOUR_FORMAT)
        removed = 0
        hours = [*Path(local).glob(f"{records.PREDICTIONS_FOLDER}/*=*/*=*/hour=*"),
                 *Path(local).glob(f"{labels.LABELS_FOLDER}/hour=*")]
        for hour in hours:
            if hour.name.removeprefix("hour=") < cutoff:
                shutil.rmtree(hour, ignore_errors=True)
                removed += 1
        if removed:
            log.info("retention: removed %d hour partitions before %s", removed, cutoff)
        return removed


class LabelWriter:
    """Writes the labels spool below ``root``: one part per hour of arrival per flush,
    named after the flush's first batch (a repeated flush overwrites, never duplicates)."""

    def __init__(self, root: str, spool: Spool) -> None:
        self.root = root.rstrip("/")
        self.spool = spool
        self.store = stores.store_for(self.root)

    def flush(self) -> Flushed:
        batches = self.spool.begin()
        if not batches:
            return Flushed(0, 0)
        table = pa.concat_tables([labels.from_ipc(path.read_bytes()) for path in batches])
        rows = files = 0
        hours = pc.strftime(table[labels.RECEIVED], format=records.HOUR_FORMAT)
        for hour in sorted(pc.unique(hours).to_pylist()):
            hourly = table.filter(pc.equal(hours, hour))
            uri = f"{self.root}/{labels.partition(hour)}/part-{batches[0].stem}.parquet"
            self.store.write_bytes(uri, _parquet(hourly))
            rows += hourly.num_rows
            files += 1
        self.spool.finish(batches)
        return Flushed(rows, files)


def _by_version(table: pa.Table) -> list[tuple[tuple[str, str], pa.Table]]:
    """A batch's rows per (model, version); one server sends one, but trust no body."""
    pairs = table.select([records.MODEL, records.VERSION]).group_by(
        [records.MODEL, records.VERSION]).aggregate([]).to_pylist()
    if len(pairs) == 1:
        return [((pairs[0][records.MODEL], pairs[0][records.VERSION]), table)]
    return [((p[records.MODEL], p[records.VERSION]), table.filter(
        pc.and_(pc.equal(table[records.MODEL], p[records.MODEL]),
                pc.equal(table[records.VERSION], p[records.VERSION])))) for p in pairs]


def _joined(parts: list[pa.Table]) -> list[pa.Table]:
    """One table if the parts' schemas unify (they do for one version), else each."""
    try:
        return [pa.concat_tables(parts, promote_options="permissive")]
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return parts


def _by_hour(table: pa.Table) -> list[tuple[str, pa.Table]]:
    hours = pc.strftime(table[records.TIME], format=records.HOUR_FORMAT)
    distinct = pc.unique(hours).to_pylist()
    if len(distinct) == 1:
        return [(distinct[0], table)]
    return [(hour, table.filter(pc.equal(hours, hour))) for hour in sorted(distinct)]


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()
