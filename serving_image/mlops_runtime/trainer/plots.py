"""PNG pictures of the diagnostics, drawn with matplotlib's Agg backend (no display).

Each function takes the JSON that :mod:`.diagnostics` produced, so a picture shows exactly
what the record says. The PNGs carry no timestamp, so the same training draws the same bytes.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

MAX_MATRIX_CLASSES = 30


def _figure(width: float = 5.0, height: float = 4.2, columns: int = 1) -> tuple[Any, Any]:
    """A figure not registered with pyplot (nothing global, nothing to close)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100, layout="constrained")
    return figure, figure.subplots(1, columns)


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def confusion_matrix(details: Mapping[str, Any], title: str) -> bytes | None:
    matrix = details.get("confusionMatrix")
    if not matrix or len(matrix["labels"]) > MAX_MATRIX_CLASSES:
        return None
    labels, counts = matrix["labels"], matrix["counts"]
    figure, axes = _figure()
    image = axes.imshow(counts, cmap="Blues")
    figure.colorbar(image, ax=axes)
    axes.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    axes.set_yticks(range(len(labels)), labels)
    peak = max((max(row) for row in counts), default=0)
    for i, row in enumerate(counts):
        for j, value in enumerate(row):
            axes.text(j, i, str(value), ha="center", va="center",
                      color="white" if value > peak / 2 else "black")
    axes.set(xlabel="predicted", ylabel="actual", title=f"{title}: confusion matrix")
    return _png(figure)


def _lines(details: Mapping[str, Any], key: str, axis: tuple[str, str],
           labels: tuple[str, str], title: str, diagonal: bool) -> bytes | None:
    """One curve per class (``details[key]``, points named by ``axis``), or None."""
    series = details.get(key)
    if not series:
        return None
    figure, axes = _figure()
    x, y = axis
    for line in series:
        axes.plot(line[x], line[y], label=f"class {line['class']}")
    if diagonal:
        axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    axes.set(xlim=(0, 1), ylim=(0, 1.02), title=title, xlabel=labels[0], ylabel=labels[1])
    axes.legend(loc="lower right" if diagonal else "lower left", fontsize="small")
    return _png(figure)


def roc(details: Mapping[str, Any], title: str) -> bytes | None:
    return _lines(details, "roc", ("fpr", "tpr"),
                  ("false positive rate", "true positive rate"), f"{title}: ROC", diagonal=True)


def precision_recall(details: Mapping[str, Any], title: str) -> bytes | None:
    return _lines(details, "pr", ("recall", "precision"), ("recall", "precision"),
                  f"{title}: precision-recall", diagonal=False)


def calibration(details: Mapping[str, Any], title: str) -> bytes | None:
    curve = details.get("calibration")
    if not curve or not curve["bins"]:
        return None
    figure, axes = _figure()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    axes.plot([b["predicted"] for b in curve["bins"]], [b["observed"] for b in curve["bins"]],
              marker="o", label=f"model (ECE {curve['ece']:.3g})")
    axes.set(xlim=(0, 1), ylim=(0, 1.02), xlabel=f"predicted {curve['of']}",
             ylabel="observed frequency", title=f"{title}: calibration")
    axes.legend(loc="upper left", fontsize="small")
    return _png(figure)


def residuals(details: Mapping[str, Any], title: str) -> bytes | None:
    spread = details.get("residuals")
    if not spread:
        return None
    figure, (left, right) = _figure(9.0, 4.0, columns=2)
    histogram = spread["histogram"]
    edges = histogram["binEdges"]
    left.stairs(histogram["counts"], edges, fill=True)
    left.axvline(0, color="grey", linestyle="--")
    left.set(xlabel="actual - predicted", ylabel="rows", title=f"{title}: residuals")
    pairs = details["predictedVsActual"]
    right.scatter(pairs["actual"], pairs["predicted"], s=6, alpha=0.6)
    low = min(pairs["actual"] + pairs["predicted"])
    high = max(pairs["actual"] + pairs["predicted"])
    right.plot([low, high], [low, high], linestyle="--", color="grey")
    right.set(xlabel="actual", ylabel="predicted", title="predicted vs actual")
    return _png(figure)


def importance(details: Mapping[str, Any], title: str) -> bytes | None:
    ranked = (details.get("importance") or {}).get("features")
    if not ranked:
        return None
    top = list(reversed(ranked[:20]))  # largest at the top
    figure, axes = _figure(6.0, max(2.5, 0.3 * len(top) + 1.2))
    axes.barh([f["name"] for f in top], [f["mean"] or 0.0 for f in top],
              xerr=[f["std"] or 0.0 for f in top], color="tab:blue")
    axes.axvline(0, color="grey", linewidth=0.8)
    axes.set(xlabel=f"drop in {details['importance']['scoring']} when shuffled",
             title=f"{title}: permutation importance")
    return _png(figure)


def fairness(details: Mapping[str, Any], title: str) -> bytes | None:
    report = details.get("fairness")
    if not report or not report.get("groups"):
        return None
    names = list(report["groups"])
    rates = ("selectionRate", "accuracy", "recall", "falsePositiveRate")
    figure, axes = _figure(7.0, 4.2)
    width = 0.8 / len(names)
    for index, name in enumerate(names):
        group = report["groups"][name]
        axes.bar([r + index * width for r in range(len(rates))],
                 [group.get(rate) or 0.0 for rate in rates], width, label=name)
    axes.set_xticks([r + 0.4 - width / 2 for r in range(len(rates))],
                    ["selection rate", "accuracy", "recall", "false positive rate"])
    axes.set(ylim=(0, 1.05), ylabel="share of hold-out rows",
             title=f"{title}: per group ({', '.join(report['sensitiveFeatures'])})")
    axes.legend(fontsize="small")
    return _png(figure)


#: File name (without .png) -> the drawing; the order of the ModelVersion's list.
PICTURES: dict[str, Callable[[Mapping[str, Any], str], bytes | None]] = {
    "confusion-matrix": confusion_matrix,
    "roc": roc,
    "precision-recall": precision_recall,
    "calibration": calibration,
    "residuals": residuals,
    "importance": importance,
    "fairness": fairness,
}


def draw_all(details: Mapping[str, Any], title: str) -> dict[str, bytes]:
    """Every picture the diagnostics allow, by file name."""
    drawn = {name: draw(details, title) for name, draw in PICTURES.items()}
    return {f"{name}.png": data for name, data in drawn.items() if data is not None}
