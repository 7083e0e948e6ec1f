from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

def numeric_matrix(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> npt.NDArray[np.float64]: ...
def json_rows(pieces: Sequence[bytes], columns: Sequence[Sequence[Any]]) -> list[bytes]: ...
