"""The ``credit`` synthetic data set: credit applications and the lender's past decision,
biased against one sex.

``approved`` (0/1) is what a lender decided, not whether the applicant repaid: it follows
the applicant's finances (``credit_score``, ``debt_to_income``, ``annual_income``,
``years_employed``) and, unfairly, ``sex``: women were approved less often than men with
the same finances. ``part_time`` is far more common among women, and their incomes are a
little lower, so a model that never sees ``sex`` can still learn the bias through them.
The fairness gate (``qualityGate.fairness``) is judged on this: a logistic regression fed
``sex`` approves women about 30 points less often than men; without ``sex`` and with
reweighing the gap falls below ten points.
Deterministic: the same rows and seed give the same bytes, hence the same fingerprint.

    mlops-runtime sample-data credit --rows 3000 --seed 11 --output /data/credit.csv
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FEMALE_SHARE = 0.45
#: Share of part-time workers by sex: the proxy the model can learn the bias from.
PART_TIME_SHARE = {"female": 0.35, "male": 0.08}
#: How much lower women's log-income is, and how much less often the lender approved them
#: (logit points, with everything else equal).
INCOME_GAP = 0.1
DECISION_BIAS = 1.2
PURPOSES = ("car", "home_improvement", "debt_consolidation", "education", "medical")


def generate(rows: int = 3000, seed: int = 11) -> pd.DataFrame:
    """The table: ``rows`` applications, the same for the same seed."""
    if rows < 10:
        raise ValueError("rows must be at least 10")
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], rows, p=[FEMALE_SHARE, 1 - FEMALE_SHARE])
    female = sex == "female"
    age = rng.integers(21, 71, rows)
    income = np.round(np.exp(rng.normal(10.9, 0.4, rows) - INCOME_GAP * female), -2)
    part_time = rng.random(rows) < np.where(female, PART_TIME_SHARE["female"],
                                            PART_TIME_SHARE["male"])
    years = np.minimum(np.round(rng.gamma(2.0, 3.0, rows), 1), age - 18)
    credit = np.clip(np.round(rng.normal(680, 60, rows)), 300, 850).astype("int64")
    amount = np.round(np.clip(rng.lognormal(9.3, 0.6, rows), 1000, 40000), -2).astype("int64")
    debt_to_income = np.round(np.clip(rng.normal(15, 7, rows) + 25 * amount / income, 0, 60), 1)
    logit = (0.9 + 0.03 * (credit - 680) - 0.08 * (debt_to_income - 20)
             + 0.8 * (np.log(income) - 10.9) + 0.05 * years - 0.2 * part_time
             - DECISION_BIAS * female + rng.normal(0, 0.3, rows))
    approved = (rng.random(rows) < 1.0 / (1.0 + np.exp(-logit))).astype("int64")
    return pd.DataFrame({
        "sex": sex, "age": age, "annual_income": income, "part_time": part_time,
        "years_employed": years, "credit_score": credit, "loan_amount": amount,
        "debt_to_income": debt_to_income, "purpose": rng.choice(PURPOSES, rows),
        "approved": approved,
    })
