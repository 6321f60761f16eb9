"""Energy model: a fixed cost per multiply-accumulate (MAC) and per accumulate (AC).

Defaults are the 45 nm CMOS numbers (Horowitz, ISSCC 2014) used by DIET-SNN, SPSN and most
SNN papers: a 32-bit float MAC costs 4.6 pJ (3.7 pJ multiply + 0.9 pJ add) and an AC 0.9 pJ.
Element-wise products (the gate products of recurrent cells, ``elementwise`` in the op counts) are not
priced by default, as in those papers; ``e_mul_pj=3.7`` prices each as a 32-bit float multiply.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

__all__ = ["EnergyModel", "energy_ratio", "energy_ratios"]


@dataclass(frozen=True)
class EnergyModel:
    """``E = e_mac_pj * MACs + e_ac_pj * ACs + e_mul_pj * element-wise products`` (picojoules)."""

    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9
    e_mul_pj: float = 0.0

    def energy_pj(self, macs: float, acs: float, elementwise: float = 0.0) -> float:
        e = float(macs) * self.e_mac_pj + float(acs) * self.e_ac_pj
        return e + float(elementwise) * self.e_mul_pj if self.e_mul_pj else e

    def __call__(self, macs: float, acs: float, elementwise: float = 0.0) -> float:
        return self.energy_pj(macs, acs, elementwise)


Number = Union[int, float]


def energy_ratio(
    snn: Union[Mapping[str, Number], Number],
    ann: Union[Mapping[str, Number], Number],
    key: str = "energy_pj",
) -> float:
    """SNN/ANN energy ratio: ``snn[key] / ann[key]`` (totals dicts from :meth:`OpsMonitor.compute`,
    or plain numbers). A value below 1 means the SNN is cheaper; papers often quote its inverse
    ("x-fold more efficient"). ``key="energy_nb_pj"`` uses NeuroBench's effective-op counts."""
    s = float(snn[key]) if isinstance(snn, Mapping) else float(snn)
    a = float(ann[key]) if isinstance(ann, Mapping) else float(ann)
    if a == 0.0:
        raise ZeroDivisionError("ANN energy is zero; did the ANN monitor see any sample?")
    return s / a


def energy_ratios(snn: Mapping[str, Number], baseline: Mapping[str, Number]) -> dict[str, float]:
    """SNN/baseline energy ratio in both conventions, from two :meth:`OpsMonitor.compute` dicts taken with
    the same normaliser (both per sample, or both per token): ``{"papers": ..., "neurobench": ...}``."""
    return {"papers": energy_ratio(snn, baseline, "energy_pj"),
            "neurobench": energy_ratio(snn, baseline, "energy_nb_pj")}
