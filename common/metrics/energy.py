"""Energy model: a fixed cost per multiply-accumulate (MAC) and per accumulate (AC).

Defaults are the 45 nm CMOS numbers (Horowitz, ISSCC 2014) used by DIET-SNN, SPSN and most
SNN papers: a 32-bit float MAC costs 4.6 pJ (3.7 pJ multiply + 0.9 pJ add) and an AC 0.9 pJ.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Union

__all__ = ["EnergyModel", "energy_ratio"]


@dataclass(frozen=True)
class EnergyModel:
    """``E = e_mac_pj * MACs + e_ac_pj * ACs`` (picojoules)."""

    e_mac_pj: float = 4.6
    e_ac_pj: float = 0.9

    def energy_pj(self, macs: float, acs: float) -> float:
        return float(macs) * self.e_mac_pj + float(acs) * self.e_ac_pj

    def __call__(self, macs: float, acs: float) -> float:
        return self.energy_pj(macs, acs)


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
