"""Data and pipelines the way a scikit-learn user has them, for the ``driftline models import`` tests.

A DataFrame of customers with nulls in a numeric and a categorical column, targets for the three
tasks, and the usual preprocessing: a ColumnTransformer by column name with median imputation and
scaling for numbers, constant imputation and one-hot encoding (unknown categories ignored) for text.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMERIC = ("income", "age", "balance")
CATEGORICAL = ("channel",)
CHANNELS = ("web", "app", "store", "phone")
TIERS = ("bronze", "silver", "gold")


def customers(n: int, seed: int) -> Any:
    """``n`` rows: features, and targets ``churned`` (0/1), ``tier`` (text) and ``spend`` (number)."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "income": rng.lognormal(10, 0.4, n), "age": rng.integers(18, 90, n).astype(np.int64),
        "balance": rng.normal(1_000, 300, n), "channel": rng.choice(CHANNELS, n, p=[0.5, 0.3, 0.15, 0.05]),
    })
    signal = ((np.log(frame["income"]) - 10) * 2 + (frame["age"] - 50) / 20
              + (frame["channel"] == "store") * 0.8)
    noisy = signal + rng.normal(0, 0.7, n)
    frame.loc[rng.random(n) < 0.05, "balance"] = np.nan
    frame.loc[rng.random(n) < 0.05, "channel"] = None
    frame["churned"] = (noisy > 0).astype(np.int64)
    frame["tier"] = np.array(TIERS, dtype=object)[np.digitize(noisy, [-0.8, 0.8])]
    frame["spend"] = signal * 10 + frame["balance"].fillna(1_000) / 100 + rng.normal(0, 1, n)
    return frame


def column_pipeline(estimator: Any, *, handle_unknown: str = "ignore") -> Any:
    """Preprocessing by column name in front of ``estimator``: what ``driftline models import`` expects."""
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline, make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    text = make_pipeline(SimpleImputer(strategy="constant", fill_value="none"),
                         OneHotEncoder(handle_unknown=handle_unknown, sparse_output=False))
    preprocess = ColumnTransformer([
        ("numeric", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), list(NUMERIC)),
        ("text", text, list(CATEGORICAL)),
    ])
    return Pipeline([("preprocess", preprocess), ("model", estimator)])
