"""Reading what ``driftline models import`` is given: a fitted scikit-learn estimator and a data sample.

The sample is the first ``limit`` rows of a CSV, Parquet or JSON-lines file (JSON lines hold
feature objects or events with ``features``; an event's top-level ``label`` becomes a ``label``
column). pandas, pyarrow, joblib and scikit-learn are the optional ``train`` extras, imported inside
the functions.
"""

from __future__ import annotations

from itertools import islice
from pathlib import Path
from typing import Any

import orjson

from driftline.models.importing.errors import ImportRefused, first_line

#: File name endings the sample reader understands, by format.
FORMATS = {"csv": (".csv", ".csv.gz", ".tsv"), "parquet": (".parquet", ".pq"),
           "jsonl": (".jsonl", ".ndjson", ".json")}


def load_estimator(path: Path) -> Any:
    """The fitted scikit-learn estimator pickled in ``path`` by ``joblib.dump``.

    Unpickling runs code from the file: import only files you trust, as with ``joblib.load``.
    """
    import joblib
    from sklearn.base import BaseEstimator
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if not path.is_file():
        raise ImportRefused(f"{path}: no such file", field="model")
    try:
        estimator = joblib.load(path)
    except Exception as exc:  # unpickling raises whatever the pickled classes raise
        raise ImportRefused(f"{path} is not a joblib file of a scikit-learn model: {first_line(exc)}",
                            field="model") from None
    if not isinstance(estimator, BaseEstimator) or not hasattr(estimator, "predict"):
        raise ImportRefused(f"{path} holds a {type(estimator).__name__}, not a scikit-learn estimator "
                            f"with predict (dump the fitted pipeline itself: joblib.dump(pipeline, path))",
                            field="model")
    try:
        check_is_fitted(estimator)
    except NotFittedError:
        raise ImportRefused(f"{path} holds an unfitted {type(estimator).__name__}; fit it before dumping it",
                            field="model") from None
    return estimator


def read_sample(path: Path, *, limit: int) -> Any:
    """The first ``limit`` rows of ``path`` as a pandas DataFrame (nulls as NaN or None)."""
    if not path.is_file():
        raise ImportRefused(f"{path}: no such file", field="sample")
    name = path.name.lower()
    kind = next((k for k, endings in FORMATS.items() if name.endswith(endings)), None)
    if kind is None:
        endings = ", ".join(e for group in FORMATS.values() for e in group)
        raise ImportRefused(f"{path}: cannot tell the sample's format from its name (use one of {endings})",
                            field="sample")
    try:
        frame = _READERS[kind](path, limit)
    except ImportRefused:
        raise
    except Exception as exc:  # pandas and pyarrow raise many types for a malformed file
        raise ImportRefused(f"{path}: cannot read it as {kind}: {first_line(exc)}", field="sample") from None
    if frame.empty:
        raise ImportRefused(f"{path} holds no rows", field="sample")
    return frame


def _read_csv(path: Path, limit: int) -> Any:
    import pandas as pd

    return pd.read_csv(path, nrows=limit, sep="\t" if path.name.lower().endswith(".tsv") else ",")


def _read_parquet(path: Path, limit: int) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Batches rather than read_table: a sample of a 50 GB file should read 10,000 rows, not 50 GB.
    source = pq.ParquetFile(path)
    batches, rows = [], 0
    for batch in source.iter_batches(batch_size=min(limit, 65_536)):
        batches.append(batch.slice(0, limit - rows))
        rows += batches[-1].num_rows
        if rows >= limit:
            break
    return pa.Table.from_batches(batches, schema=source.schema_arrow).to_pandas()


def _read_jsonl(path: Path, limit: int) -> Any:
    import pandas as pd

    with path.open("rb") as lines:
        filled = ((number, line) for number, line in enumerate(lines, 1) if line.strip())
        rows = [_json_row(path, number, line) for number, line in islice(filled, limit)]
    return pd.DataFrame.from_records(rows)


def _json_row(path: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise ImportRefused(f"{path}:{number}: not JSON: {exc}", field="sample") from None
    if not isinstance(obj, dict):
        raise ImportRefused(f"{path}:{number}: a sample line is a JSON object", field="sample")
    if not isinstance(obj.get("features"), dict):
        return obj
    row = dict(obj["features"])
    if "label" in obj:
        row.setdefault("label", obj["label"])
    return row


_READERS = {"csv": _read_csv, "parquet": _read_parquet, "jsonl": _read_jsonl}
