"""Compiled splitting of flow-log tuple strings (see adu_fw.flowlogs)."""
import numpy as np
import numpy.typing as npt

STATUS: tuple[str, ...]
STATES: str

def split(
    data: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    version: npt.NDArray[np.int8],
    status: npt.NDArray[np.uint8],
    ms: npt.NDArray[np.int64],
    src_fam: npt.NDArray[np.uint8],
    src_hi: npt.NDArray[np.uint64],
    src_lo: npt.NDArray[np.uint64],
    dst_fam: npt.NDArray[np.uint8],
    dst_hi: npt.NDArray[np.uint64],
    dst_lo: npt.NDArray[np.uint64],
    sport: npt.NDArray[np.uint16],
    dport: npt.NDArray[np.uint16],
    proto: npt.NDArray[np.uint8],
    outbound: npt.NDArray[np.uint8],
    decision: npt.NDArray[np.uint8],
    state: npt.NDArray[np.uint8],
    counters: npt.NDArray[np.int64],
    counter_null: npt.NDArray[np.uint8],
    spans: npt.NDArray[np.int64],
) -> None: ...
def gather(
    data: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    out_offsets: npt.NDArray[np.int32],
    out_data: npt.NDArray[np.uint8],
) -> None: ...
def expand(
    count: npt.NDArray[np.int64],
    first: npt.NDArray[np.int64],
    record: npt.NDArray[np.int32],
    version: npt.NDArray[np.int8],
    group_out: npt.NDArray[np.int32],
    tuple_out: npt.NDArray[np.int32],
    record_out: npt.NDArray[np.int32],
    version_out: npt.NDArray[np.int8],
) -> None: ...
