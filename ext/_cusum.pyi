"""Type stub of the compiled CUSUM kernel; ``ext.cusum_py`` documents it."""

import numpy as np
import numpy.typing as npt

def cusum_codes(codes: npt.NDArray[np.unsignedinteger], columns: npt.ArrayLike,
                increments: npt.NDArray[np.float64], thresholds: npt.NDArray[np.float64],
                state: npt.NDArray[np.float64], *, headstart: float) -> int: ...

def cusum_quiet(codes: npt.NDArray[np.unsignedinteger], columns: npt.ArrayLike,
                increments: npt.NDArray[np.float64], thresholds: npt.NDArray[np.float64],
                state: npt.NDArray[np.float64]) -> bool: ...
