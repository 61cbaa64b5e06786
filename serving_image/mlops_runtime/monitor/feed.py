"""Arrow tables into the join: records and labels as :class:`~.quality.Quality` takes
them, from a request body or, after a restart, from what the store already holds.

A series is a regressor when its records carry no class probabilities and its
predictions are floating-point numbers; otherwise its predictions are classes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from mlops_runtime import stores
from mlops_runtime.monitor import labels
from mlops_runtime.monitor.quality import JoinCounts, Quality, SeriesKey, label_text
from mlops_runtime.predictionlog import records

log = logging.getLogger(__name__)
SERIES = (records.NAMESPACE, records.DEPLOYMENT, records.MODEL, records.VERSION,
          records.TRACK)


def is_regressor(table: pa.Table) -> bool:
    """Whether ``table``'s predictions are a regressor's values."""
    return (records.PROBABILITIES not in table.column_names
            and pa.types.is_floating(table.schema.field(records.PREDICTION).type))


def add_records(quality: Quality, table: pa.Table, now: float,
                labelled: frozenset[str] = frozenset()) -> JoinCounts:
    """Index a table of records (any number of series); ``labelled`` IDs already have a
    label (a restart restoring its state)."""
    regressor = is_regressor(table)
    counts = JoinCounts()
    for series, rows in _by_series(table):
        ids = rows[records.ID].to_pylist()
        times = (pc.cast(rows[records.TIME], pa.int64()).to_numpy() / 1000.0).tolist()
        values = rows[records.PREDICTION]
        predictions = (pc.cast(values, pa.float64()).to_pylist() if regressor
                       else [label_text(v) or "" for v in values.to_pylist()])
        if labelled:
            known = [row_id in labelled for row_id in ids]
            for flag in (False, True):
                keep = [i for i, k in enumerate(known) if k is flag]
                if keep:
                    counts.add(quality.add_predictions(
                        series, [ids[i] for i in keep], [predictions[i] for i in keep],
                        [times[i] for i in keep], regressor, now, labelled=flag))
        else:
            counts.add(quality.add_predictions(series, ids, predictions, times, regressor, now))
    return counts


def _by_series(table: pa.Table) -> list[tuple[SeriesKey, pa.Table]]:
    keys = table.select(list(SERIES)).group_by(list(SERIES)).aggregate([]).to_pylist()
    if len(keys) == 1:
        return [(tuple(keys[0][name] for name in SERIES), table)]  # type: ignore[misc]
    result = []
    for key in keys:
        mask = None
        for name in SERIES:
            equal = pc.equal(table[name], key[name])
            mask = equal if mask is None else pc.and_(mask, equal)
        result.append((tuple(key[name] for name in SERIES), table.filter(mask)))
    return result  # type: ignore[return-value]


def restore(quality: Quality, root: str, now: datetime) -> int:
    """Index the predictions of the last ``quality.keep`` seconds the store holds, the
    labelled ones marked as such, newest hours kept within the row bound; the number of
    predictions indexed. Only local roots (``file://``, ``pvc://``) for now."""
    local = stores.store_for(root).local_path(root.rstrip("/"))
    if local is None or not Path(local).is_dir():
        return 0
    first = (now - timedelta(seconds=quality.keep)).strftime(records.HOUR_FORMAT)
    seen = _labelled(Path(local), first)
    restored = 0
    folder = Path(local) / records.PREDICTIONS_FOLDER
    hours = sorted(folder.glob("*=*/*=*/hour=*"), key=lambda p: p.name, reverse=True)
    picked = []
    for hour in hours:
        if hour.name.removeprefix("hour=") < first or restored >= quality.max_predictions:
            break
        table = _read(hour)
        if table is None or not table.num_rows:
            continue
        model = hour.parent.parent.name.partition("=")[2]
        version = hour.parent.name.partition("=")[2]
        table = table.append_column(records.MODEL, pa.array([model] * table.num_rows)) \
                     .append_column(records.VERSION, pa.array([version] * table.num_rows))
        picked.append(table)
        restored += table.num_rows
    for table in reversed(picked):  # oldest first, as they arrived
        add_records(quality, table.sort_by(records.TIME), now.timestamp(), seen)
    if restored:
        log.info("restored %d logged predictions (%d labelled) from %s", restored,
                 len(seen), root)
    return restored


def _read(hour: Path) -> pa.Table | None:
    """What the join needs of one hour partition (None, logged, if it cannot be read)."""
    try:
        dataset = ds.dataset(hour, format="parquet")
        wanted = [records.ID, records.TIME, records.NAMESPACE, records.DEPLOYMENT,
                  records.TRACK, records.PREDICTION, records.PROBABILITIES]
        return dataset.to_table(columns=[c for c in wanted if c in dataset.schema.names])
    except (pa.ArrowInvalid, OSError) as error:
        log.warning("restore: %s skipped: %s", hour, error)
        return None


def _labelled(root: Path, first: str) -> frozenset[str]:
    """The IDs labelled since hour ``first``."""
    folder = root / labels.LABELS_FOLDER
    ids: set[str] = set()
    for hour in folder.glob("hour=*"):
        if hour.name.removeprefix("hour=") >= first:
            ids.update(ds.dataset(hour, format="parquet").to_table(
                columns=[labels.ID])[labels.ID].to_pylist())
    return frozenset(ids)


def now_seconds() -> float:
    """The wall clock the join runs on (record times are wall-clock milliseconds)."""
    return datetime.now(UTC).timestamp()
