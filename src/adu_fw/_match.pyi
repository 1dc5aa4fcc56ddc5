"""The compiled classify loop (see adu_fw.compile for the arrays it takes)."""
from typing import Any

import numpy as np
import numpy.typing as npt

class Matcher:
    def __init__(self, arrays: dict[str, Any]) -> None: ...
    @property
    def v4_path(self) -> str: ...
    @property
    def v6_path(self) -> str: ...
    @property
    def simd(self) -> bool: ...
    @simd.setter
    def simd(self, on: bool) -> None: ...
    def classify(
        self,
        direction: npt.NDArray[np.uint8],
        protocol: npt.NDArray[np.uint8],
        family: npt.NDArray[np.uint8],
        src_hi: npt.NDArray[np.uint64],
        src_lo: npt.NDArray[np.uint64],
        src_port: npt.NDArray[np.uint16],
        dst_hi: npt.NDArray[np.uint64],
        dst_lo: npt.NDArray[np.uint64],
        dst_port: npt.NDArray[np.uint16],
        out_rule: npt.NDArray[np.int32],
        out_allow: npt.NDArray[np.uint8],
        threads: int = 1,
    ) -> None: ...
    def classify_v6(
        self,
        direction: npt.NDArray[np.uint8],
        protocol: npt.NDArray[np.uint8],
        src_hi: npt.NDArray[np.uint64],
        src_lo: npt.NDArray[np.uint64],
        src_port: npt.NDArray[np.uint16],
        dst_hi: npt.NDArray[np.uint64],
        dst_lo: npt.NDArray[np.uint64],
        dst_port: npt.NDArray[np.uint16],
        out_rule: npt.NDArray[np.int32],
        out_allow: npt.NDArray[np.uint8],
        threads: int = 1,
    ) -> None: ...
    def classify_v6be(
        self,
        direction: npt.NDArray[np.uint8],
        protocol: npt.NDArray[np.uint8],
        src: npt.NDArray[np.uint8],
        src_port: npt.NDArray[np.uint16],
        dst: npt.NDArray[np.uint8],
        dst_port: npt.NDArray[np.uint16],
        out_rule: npt.NDArray[np.int32],
        out_allow: npt.NDArray[np.uint8],
        threads: int = 1,
    ) -> None: ...
    def classify_v4(
        self,
        direction: npt.NDArray[np.uint8],
        protocol: npt.NDArray[np.uint8],
        src: npt.NDArray[np.uint32],
        src_port: npt.NDArray[np.uint16],
        dst: npt.NDArray[np.uint32],
        dst_port: npt.NDArray[np.uint16],
        out_rule: npt.NDArray[np.int32],
        out_allow: npt.NDArray[np.uint8],
        threads: int = 1,
    ) -> None: ...

LANE_LAYOUT: tuple[str, ...]

def rule_actions(arrays: dict[str, Any]) -> npt.NDArray[np.uint8]: ...
def stage_values(
    rule_action: npt.ArrayLike, nomatch: npt.ArrayLike
) -> list[npt.NDArray[np.int32]]: ...
