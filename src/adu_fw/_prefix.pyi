"""Compiled interval-table lookups behind ServiceTags.lookup_many."""
import numpy as np
import numpy.typing as npt

def locate(
    family: npt.NDArray[np.uint8],
    hi: npt.NDArray[np.uint64],
    lo: npt.NDArray[np.uint64],
    v4_starts: npt.NDArray[np.uint32],
    v4_value: npt.NDArray[np.int32],
    v6_starts_hi: npt.NDArray[np.uint64],
    v6_starts_lo: npt.NDArray[np.uint64],
    v6_value: npt.NDArray[np.int32],
    out: npt.NDArray[np.int32],
    invalid: int = -2,
) -> None: ...
def locate_v4(
    keys: npt.NDArray[np.uint32],
    starts: npt.NDArray[np.uint32],
    value: npt.NDArray[np.int32],
    out: npt.NDArray[np.int32],
) -> None: ...
