"""Compiled JSON decoding of flow-log blobs with tuple strings left as byte spans (see adu_fw.flowlogs)."""
from typing import Any, Callable, TypeVar

import numpy as np
import numpy.typing as npt

T = TypeVar("T")
MAX_DEPTH: int

class Declined(Exception): ...

def decode(
    data: npt.NDArray[np.uint8] | bytes, start: int, factory: Callable[[int, int], T]
) -> tuple[Any, npt.NDArray[np.int64], npt.NDArray[np.int64], int]: ...
def decode_many(
    data: npt.NDArray[np.uint8] | bytes, start: int, factory: Callable[[int, int], T]
) -> tuple[list[Any], list[int], list[int], npt.NDArray[np.int64], npt.NDArray[np.int64], int]: ...
