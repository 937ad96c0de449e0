"""The map: nodes, great-circle distances, latency between nodes and UHV lines
(docs/design.md §1.2.1)."""

from __future__ import annotations

import numpy as np

from model.constants import ROLES
from model.schema import Geography

EARTH_RADIUS_KM = 6371.0


def great_circle_km(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Pairwise great-circle distance between nodes, km (haversine)."""
    phi, lam = np.radians(lat), np.radians(lon)
    dphi = phi[:, None] - phi[None, :]
    dlam = lam[:, None] - lam[None, :]
    a = np.sin(dphi / 2) ** 2 + np.cos(phi[:, None]) * np.cos(phi[None, :]) * np.sin(dlam / 2) ** 2
    return 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


class Map:
    """Node attributes as arrays, in config order, plus distance and latency."""

    def __init__(self, geography: Geography) -> None:
        self.geography = geography
        nodes = geography.nodes
        self.names = tuple(n.name for n in nodes)
        self.n = len(nodes)
        self.index = {name: i for i, name in enumerate(self.names)}
        self.lat = np.array([n.lat for n in nodes])
        self.lon = np.array([n.lon for n in nodes])
        self.role = np.array([ROLES.index(n.role) for n in nodes])   # 0 east, 1 central, 2 west
        self.km = great_circle_km(self.lat, self.lon)

    def latency_ms(self, route_factor: float) -> np.ndarray:
        """One-way latency between nodes, ms: route_factor x km / (km per ms) + base."""
        g = self.geography
        return route_factor * self.km / g.fibre_km_per_ms + g.base_ms
