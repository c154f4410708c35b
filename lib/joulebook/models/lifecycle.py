"""Embodied (manufacturing) emissions amortised over service life and utilisation.

    embodied per accelerator-hour = (accelerator kgCO2e + host kgCO2e per accelerator)
                                    / (lifetime_years x 8760 h x utilisation)

Operational emissions are location-based (grid average) and direct (no
upstream fuel, no market instruments) unless a report says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from joulebook import data


@dataclass(frozen=True)
class EmbodiedProfile:
    profile: str
    accelerator_kgco2e: tuple[float, float, float]
    host_kgco2e_per_accelerator: float
    lifetime_years: float
    utilisation: float
    source_id: str
    note: str

    def kg_per_accelerator_hour(self) -> tuple[float, float, float]:
        hours = self.lifetime_years * 8760.0 * self.utilisation
        return tuple((a + self.host_kgco2e_per_accelerator) / hours for a in self.accelerator_kgco2e)  # type: ignore[return-value]


@data.cached
def embodied_profile(accelerator) -> EmbodiedProfile | None:
    """The accelerator's embodied-carbon profile, or None when the data set has none for it."""
    acc = data.accelerator(accelerator)
    df = data.table("embodied_profiles").set_index("profile")
    if not acc.embodied_profile or acc.embodied_profile not in df.index:
        return None
    r = df.loc[acc.embodied_profile]
    return EmbodiedProfile(acc.embodied_profile,
                           (float(r["accelerator_kgco2e_low"]), float(r["accelerator_kgco2e"]), float(r["accelerator_kgco2e_high"])),
                           float(r["host_kgco2e_per_accelerator"]), float(r["lifetime_years"]), float(r["utilisation"]),
                           r["source_id"], r["note"])
