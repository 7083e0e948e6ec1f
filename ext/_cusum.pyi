"""Type stub of the compiled CUSUM kernel; ``ext.cusum_py`` documents it."""

import numpy as np
import numpy.typing as npt

def cusum_codes(codes: npt.NDArray[np.unsignedinteger], columns: npt.ArrayLike, increments: npt.NDArray[np.float64],
                thresholds: npt.NDArray[np.float64], statistic: npt.NDArray[np.float64],
                peak: npt.NDArray[np.float64], crossed: npt.NDArray[np.uint8], headstart: float) -> int: ...
