"""Compiled address/prefix text parsing (see adu_fw.ip for the public face)."""
import numpy as np
import numpy.typing as npt

def parse_addresses(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    family: npt.NDArray[np.uint8],
    hi: npt.NDArray[np.uint64],
    lo: npt.NDArray[np.uint64],
) -> None: ...
def parse_prefixes(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    family: npt.NDArray[np.uint8],
    hi: npt.NDArray[np.uint64],
    lo: npt.NDArray[np.uint64],
    plen: npt.NDArray[np.int16],
) -> None: ...
def parse_v4_column(
    data: npt.NDArray[np.uint8],
    offsets: npt.NDArray[np.int32] | npt.NDArray[np.int64],
    out: npt.NDArray[np.uint32],
) -> int: ...
