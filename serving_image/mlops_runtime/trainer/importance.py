"""Global feature importance of a trained pipeline: permutation importance on the hold-out.

Each original column (not one-hot slots: the pipeline takes raw columns) is shuffled in
turn and the drop in the score is measured, ``repeats`` times (scikit-learn's
``permutation_importance``). Model-agnostic, so every estimator gets it, and measured on
rows the model has not seen. The hold-out is subsampled to ``MAX_ROWS`` so the cost stays
bounded on large datasets.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from mlops_runtime.trainer.evaluate import finite, significant

MAX_ROWS = 2000
REPEATS = 5
#: How many features the ModelVersion names (all of them are in metadata.json).
ON_THE_VERSION = 5


def permutation(pipeline: Any, x: np.ndarray | pd.DataFrame, y: np.ndarray,
                features: list[str], classifier: bool, seed: int) -> dict[str, Any] | None:
    """Mean and std of the score drop per feature, largest first; None when not measurable."""
    from sklearn.inspection import permutation_importance

    scoring = "accuracy" if classifier else "r2"
    rows = np.random.default_rng(seed).permutation(len(y))[:MAX_ROWS] \
        if len(y) > MAX_ROWS else np.arange(len(y))
    sample = x.iloc[rows] if isinstance(x, pd.DataFrame) else x[rows]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = permutation_importance(pipeline, sample, y[rows], scoring=scoring,
                                            n_repeats=REPEATS, random_state=seed)
    except Exception:  # importance is a help for the reader, never a failed training
        return None
    order = np.argsort(-result.importances_mean, kind="stable")
    return {"method": "permutation", "scoring": scoring, "repeats": REPEATS,
            "rows": int(len(rows)),
            "features": [{"name": features[i], "mean": finite(result.importances_mean[i], 6),
                          "std": finite(result.importances_std[i], 6)} for i in order]}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """What goes on the ModelVersion: the top features' mean score drop."""
    return {"method": result["method"], "scoring": result["scoring"],
            "features": {f["name"]: significant(f["mean"], 4)
                         for f in result["features"][:ON_THE_VERSION]}}
