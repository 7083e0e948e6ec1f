from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

def murmur2(data: bytes) -> int: ...
def key_partitions(keys: Sequence[bytes], n_partitions: int) -> npt.NDArray[np.int32]: ...
