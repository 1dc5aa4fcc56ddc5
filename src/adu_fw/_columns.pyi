"""Compiled flow-column conversions (see adu_fw.flowtable for the public face)."""
import numpy as np
import numpy.typing as npt

def narrow(
    values: npt.NDArray[np.integer], validity: npt.NDArray[np.uint8], offset: int, top: int,
    out: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] | npt.NDArray[np.uint32], fill: int,
    bad: npt.NDArray[np.uint8] | None = None,
) -> int: ...
def map_codes(
    indices: npt.NDArray[np.integer], validity: npt.NDArray[np.uint8], offset: int,
    table: npt.NDArray[np.int16], out: npt.NDArray[np.uint8], fill: int,
    bad: npt.NDArray[np.uint8] | None = None,
) -> int: ...
def be128(data: npt.NDArray[np.uint8], hi: npt.NDArray[np.uint64], lo: npt.NDArray[np.uint64]) -> None: ...
def be32(data: npt.NDArray[np.uint8], out: npt.NDArray[np.uint32]) -> None: ...
