"""The ``loans`` synthetic data set: loan applications and whether they defaulted.

Mixed types as real tabular data has them: numbers with gaps (``applicant_age``,
``annual_income``, ``employment_years``, ``credit_score``), whole numbers
(``loan_amount``, ``term_months``, ``prior_defaults``), categories with gaps
(``home_ownership``, ``region``, ``loan_purpose``), a boolean with gaps
(``has_cosigner``) and the target ``defaulted`` (0/1), drawn from a logistic model of
the applicant so a classifier has something real to learn (logistic regression: held-out
ROC AUC about 0.87).
Deterministic: the same rows and seed give the same bytes, hence the same fingerprint.

    mlops-runtime sample-data loans --rows 2000 --seed 7 --output /data/loans.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PURPOSES = {"debt_consolidation": 0.0, "credit_card": -0.1, "home_improvement": -0.2,
            "car": -0.3, "education": 0.2, "medical": 0.4, "small_business": 0.8,
            "vacation": 0.3}
PURPOSE_SHARES = (0.34, 0.2, 0.12, 0.1, 0.07, 0.07, 0.05, 0.05)
HOME_OWNERSHIP = {"rent": 0.35, "mortgage": -0.15, "own": -0.3, "other": 0.5}
HOME_SHARES = (0.42, 0.38, 0.17, 0.03)
REGIONS = ("north", "south", "east", "west", "central")
#: Share of missing values per column.
MISSING = {"applicant_age": 0.05, "annual_income": 0.03, "employment_years": 0.08,
           "credit_score": 0.04, "home_ownership": 0.01, "region": 0.01,
           "loan_purpose": 0.02, "has_cosigner": 0.02}


def _applicants(rng: np.random.Generator, rows: int) -> dict[str, np.ndarray]:
    age = rng.integers(19, 76, rows).astype("float64")
    income = np.round(np.exp(rng.normal(10.9, 0.45, rows)), -2)
    employment = np.minimum(np.round(rng.gamma(2.0, 3.0, rows), 1), age - 18)
    amount = np.round(np.clip(rng.lognormal(9.4, 0.6, rows), 1000, 50000), -2)
    return {
        "applicant_age": age,
        "annual_income": income,
        "employment_years": employment,
        "home_ownership": rng.choice(list(HOME_OWNERSHIP), rows, p=HOME_SHARES),
        "region": rng.choice(REGIONS, rows),
        "loan_purpose": rng.choice(list(PURPOSES), rows, p=PURPOSE_SHARES),
        "loan_amount": amount.astype("int64"),
        "term_months": rng.choice([36, 60], rows, p=[0.7, 0.3]),
        "credit_score": np.clip(np.round(rng.normal(690, 60, rows)), 300, 850),
        "debt_to_income": np.round(np.clip(rng.normal(16, 7, rows) + 25 * amount / income,
                                           0, 60), 1),
        "prior_defaults": rng.poisson(0.3, rows),
        "has_cosigner": rng.random(rows) < 0.12,
    }


def _default_odds(c: dict[str, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    logit = (-1.5 - 0.025 * (c["credit_score"] - 690) + 0.09 * (c["debt_to_income"] - 23)
             + 0.7 * (c["term_months"] == 60) - 0.08 * c["employment_years"]
             + 1.0 * c["prior_defaults"] - 1.2 * c["has_cosigner"]
             - 0.5 * (np.log(c["annual_income"]) - 10.9)
             + 2 * np.vectorize(PURPOSES.get)(c["loan_purpose"])
             + 2 * np.vectorize(HOME_OWNERSHIP.get)(c["home_ownership"])
             + 0.3 * (c["region"] == "south") + rng.normal(0, 0.3, len(c["region"])))
    return 1.0 / (1.0 + np.exp(-logit))


def generate(rows: int = 2000, seed: int = 7) -> pd.DataFrame:
    """The table: ``rows`` applications, the same for the same seed."""
    if rows < 10:
        raise ValueError("rows must be at least 10")
    rng = np.random.default_rng(seed)
    columns = _applicants(rng, rows)
    defaulted = (rng.random(rows) < _default_odds(columns, rng)).astype("int64")
    frame = pd.DataFrame(columns)
    for name, share in MISSING.items():
        gaps = rng.random(rows) < share
        frame[name] = frame[name].astype(object).where(~gaps, None)
        if name in ("applicant_age", "annual_income", "employment_years", "credit_score"):
            frame[name] = frame[name].astype("float64")
    frame["home_ownership"] = frame["home_ownership"].astype("category")
    frame["defaulted"] = defaulted
    return frame
