"""Live model quality: labels joined with logged predictions by ID (no I/O, no clock).

The monitor keeps recent predictions in an index by ID (bounded in rows and in age). A
label that finds its prediction is scored at once, for every version that answered it (a
shadow logs the same ID as the live version, so its accuracy is known too); a label whose
prediction has not arrived yet waits ``grace`` seconds before it counts as unknown (model
servers send records every second or so). A second label for a labelled prediction is a
duplicate and changes nothing; a label a regressor cannot score (not a number) is a wrong
type. Each series (namespace, deployment, model, version, track) keeps:

- counters since start: labelled predictions correct / wrong (classifiers) or scored
  (regressors), and the sums of absolute and squared errors;
- per-bucket counts by prediction time, summed over the sliding ``window`` into accuracy,
  macro F1, RMSE, MAE, labelled predictions and label coverage;
- a histogram of label delay (label arrival - prediction time).

A classifier's prediction and its label are compared as canonical text (see
:func:`label_text`), so 1, 1.0 and "1" are one class, as are True and "true".
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

#: namespace, deployment, model, version, track
SeriesKey = tuple[str, str, str, str, str]
DELAY_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0, 86400.0, 7 * 86400.0)


def label_text(value: object) -> str | None:
    """A scalar's canonical text (None for null, lists, objects, NaN and infinities)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    return None


def label_number(text: str) -> float | None:
    """A label's value for a regressor, or None if it is not a finite number."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) and text not in ("true", "false") else None


@dataclass(slots=True)
class _Logged:
    """One logged prediction of one series, waiting for its label."""

    series: SeriesKey
    prediction: str | float
    at: float
    labelled: bool = False


@dataclass(slots=True)
class _Bucket:
    """Counts of the predictions made in one bucket of time."""

    predictions: int = 0
    labelled: int = 0
    correct: int = 0
    absolute: float = 0.0
    squared: float = 0.0
    classes: dict[str, list[int]] = field(default_factory=dict)  # class -> [tp, fp, fn]


@dataclass(slots=True)
class SeriesTotals:
    """What one series has seen since the monitor started."""

    regressor: bool
    logged: int = 0
    correct: int = 0
    wrong: int = 0
    scored: int = 0
    absolute: float = 0.0
    squared: float = 0.0
    delays: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))
    delay_sum: float = 0.0


@dataclass(frozen=True)
class WindowQuality:
    """One series over the window: None where it has no labelled predictions."""

    predictions: int
    labelled: int
    accuracy: float | None = None
    f1_macro: float | None = None
    rmse: float | None = None
    mae: float | None = None

    @property
    def coverage(self) -> float | None:
        return self.labelled / self.predictions if self.predictions else None


@dataclass
class JoinCounts:
    """What became of a set of labels."""

    joined: int = 0
    pending: int = 0  # prediction not seen yet: retried until the grace period ends
    duplicate: int = 0
    wrong_type: int = 0

    def add(self, other: JoinCounts) -> None:
        self.joined += other.joined
        self.pending += other.pending
        self.duplicate += other.duplicate
        self.wrong_type += other.wrong_type


class Quality:
    """The join and the numbers it yields; every method takes ``now`` in seconds."""

    def __init__(self, window: float = 3600.0, bucket: float = 60.0,
                 max_predictions: int = 500_000, keep: float = 86400.0,
                 grace: float = 300.0, max_pending: int = 100_000) -> None:
        self.window = window
        self.bucket = bucket
        self.max_predictions = max_predictions
        self.keep = keep  # seconds a prediction waits for its label
        self.grace = grace
        self.max_pending = max_pending
        self.totals: dict[SeriesKey, SeriesTotals] = {}
        self._index: OrderedDict[str, list[_Logged]] = OrderedDict()
        self._indexed = 0
        #: label id -> (label, received, joined since): labels that came before their prediction
        self._pending: OrderedDict[str, tuple[str, float, bool]] = OrderedDict()
        self._buckets: dict[SeriesKey, dict[int, _Bucket]] = {}
        self.unknown = 0  # labels whose prediction never arrived

    # ------------------------------------------------------------------ predictions

    def add_predictions(self, series: SeriesKey, ids: Sequence[str],
                        predictions: Sequence[str | float], times: Sequence[float],
                        regressor: bool, now: float, labelled: bool = False) -> JoinCounts:
        """Index one series' logged predictions; labels waiting for them are scored."""
        totals = self._totals(series, regressor)
        buckets = self._buckets.setdefault(series, {})
        counts = JoinCounts()
        for row_id, prediction, at in zip(ids, predictions, times, strict=True):
            entry = _Logged(series, prediction, at, labelled)
            entries = self._index.get(row_id)
            if entries is None:
                self._index[row_id] = [entry]
            else:
                entries.append(entry)
            self._indexed += 1
            totals.logged += 1
            self._bucket(buckets, at).predictions += 1
            if self._pending and not labelled:
                waiting = self._pending.get(row_id)
                if waiting is not None and not self._seen(entries, series):
                    # kept after scoring: another version (a shadow) may log it too
                    counts.add(self._score([entry], waiting[0], waiting[1]))
                    self._pending[row_id] = (waiting[0], waiting[1], True)
        self._forget(now)
        return counts

    @staticmethod
    def _seen(entries: list[_Logged] | None, series: SeriesKey) -> bool:
        """Whether this series already holds a labelled prediction of that ID (the new
        entry, appended last, aside): a label counts once per series."""
        return any(e.series == series and e.labelled for e in (entries or [])[:-1])

    def _totals(self, series: SeriesKey, regressor: bool) -> SeriesTotals:
        totals = self.totals.get(series)
        if totals is None:
            totals = self.totals[series] = SeriesTotals(regressor)
        return totals

    def _bucket(self, buckets: dict[int, _Bucket], at: float) -> _Bucket:
        key = int(at // self.bucket)
        found = buckets.get(key)
        if found is None:
            found = buckets[key] = _Bucket()
        return found

    # ------------------------------------------------------------------ labels

    def add_labels(self, labels: Iterable[tuple[str, str]], now: float) -> JoinCounts:
        """Score ``(id, label text)`` pairs received at ``now``."""
        counts = JoinCounts()
        for row_id, label in labels:
            entries = self._index.get(row_id)
            if len(self._pending) >= self.max_pending and row_id not in self._pending:
                self.unknown += not self._pending.popitem(last=False)[1][2]
            if entries is None:
                self._pending[row_id] = (label, now, False)
                counts.pending += 1
                continue
            counts.add(self._score(entries, label, now))
            # Kept for the grace period: the other track's record of this ID (a shadow's,
            # or the stable's whose batch is still on its way) may come after the label.
            self._pending[row_id] = (label, now, True)
        self._forget(now)
        return counts

    def _score(self, entries: list[_Logged], label: str, now: float) -> JoinCounts:
        counts = JoinCounts()
        fresh = [entry for entry in entries if not entry.labelled]
        if not fresh:
            counts.duplicate += 1
            return counts
        for entry in fresh:
            totals = self.totals[entry.series]
            bucket = self._bucket(self._buckets.setdefault(entry.series, {}), entry.at)
            if totals.regressor:
                truth = label_number(label)
                if truth is None:
                    counts.wrong_type += 1
                    continue
                error = float(entry.prediction) - truth
                for scores in (totals, bucket):
                    scores.absolute += abs(error)
                    scores.squared += error * error
                totals.scored += 1
            else:
                hit = entry.prediction == label
                totals.correct += hit
                totals.wrong += not hit
                _count_class(bucket, str(entry.prediction), label)
            bucket.labelled += 1
            entry.labelled = True
            self._delay(totals, now - entry.at)
        if any(entry.labelled for entry in fresh):
            counts.joined += 1
        return counts

    @staticmethod
    def _delay(totals: SeriesTotals, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        index = next((i for i, bound in enumerate(DELAY_BUCKETS) if seconds <= bound),
                     len(DELAY_BUCKETS))
        totals.delays[index] += 1
        totals.delay_sum += seconds

    # ------------------------------------------------------------------ bounds

    def _forget(self, now: float) -> None:
        """Drop predictions past their age or the row bound, and labels past grace."""
        index = self._index
        while index and (self._indexed > self.max_predictions
                         or next(iter(index.values()))[0].at < now - self.keep):
            _, entries = index.popitem(last=False)
            self._indexed -= len(entries)
        pending = self._pending
        while pending and next(iter(pending.values()))[1] < now - self.grace:
            self.unknown += not pending.popitem(last=False)[1][2]

    def pending(self) -> int:
        """Labels still waiting for their prediction."""
        return sum(not joined for _, _, joined in self._pending.values())

    def indexed(self) -> int:
        """Predictions waiting for (or holding) a label."""
        return self._indexed

    # ------------------------------------------------------------------ the window

    def windows(self, now: float) -> dict[SeriesKey, WindowQuality]:
        """Each series over the last ``window`` seconds of prediction time."""
        self._forget(now)
        first = int((now - self.window) // self.bucket)
        result = {}
        for series, buckets in self._buckets.items():
            for key in [key for key in buckets if key < first]:
                del buckets[key]
            result[series] = _summary(list(buckets.values()), self.totals[series].regressor)
        return result


def _count_class(bucket: _Bucket, predicted: str, label: str) -> None:
    """A labelled classification in the bucket's per-class [tp, fp, fn]."""
    if predicted == label:
        bucket.correct += 1
        bucket.classes.setdefault(label, [0, 0, 0])[0] += 1
    else:
        bucket.classes.setdefault(predicted, [0, 0, 0])[1] += 1
        bucket.classes.setdefault(label, [0, 0, 0])[2] += 1


def _summary(buckets: list[_Bucket], regressor: bool) -> WindowQuality:
    predictions = sum(b.predictions for b in buckets)
    labelled = sum(b.labelled for b in buckets)
    if not labelled:
        return WindowQuality(predictions, 0)
    if regressor:
        return WindowQuality(predictions, labelled,
                             rmse=math.sqrt(sum(b.squared for b in buckets) / labelled),
                             mae=sum(b.absolute for b in buckets) / labelled)
    classes: dict[str, list[int]] = {}
    for bucket in buckets:
        for name, (tp, fp, fn) in bucket.classes.items():
            total = classes.setdefault(name, [0, 0, 0])
            total[0] += tp
            total[1] += fp
            total[2] += fn
    f1 = [2 * tp / (2 * tp + fp + fn) for tp, fp, fn in classes.values()]
    return WindowQuality(predictions, labelled,
                         accuracy=sum(b.correct for b in buckets) / labelled,
                         f1_macro=sum(f1) / len(f1))
