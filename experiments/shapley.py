"""Shapley values of instrument groups (docs/design.md §2.11), exact or permutation-sampled.

A coalition is a bit mask over G groups (bit g set: group g is switched on, i.e. takes the
package's setting; off: the counterfactual's). `v[mask]` is an outcome of the run with that
coalition, one value per seed. Group g's Shapley value is its marginal contribution
`v(S ∪ {g}) − v(S)` averaged over all orders in which the groups can be switched on. The
contributions add up to `v(all) − v(none)`, the package effect, exactly for the exact values
and for every sampled permutation alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

Values = Mapping[int, np.ndarray]   # coalition mask -> outcome per seed


def full_mask(n_groups: int) -> int:
    """The mask with every group switched on."""
    return (1 << n_groups) - 1


def members(mask: int, n_groups: int) -> list[int]:
    """Indices of the groups switched on in `mask`."""
    return [g for g in range(n_groups) if mask >> g & 1]


def exact_coalitions(n_groups: int) -> list[int]:
    """Every coalition (2^G masks)."""
    return list(range(1 << n_groups))


def one_at_a_time_coalitions(n_groups: int) -> list[int]:
    """None, all, each group alone, and all but each group."""
    full = full_mask(n_groups)
    singles = [1 << g for g in range(n_groups)]
    return sorted({0, full, *singles, *(full ^ s for s in singles)})


def exact_shapley(v: Values, n_groups: int) -> np.ndarray:
    """[group, seed] exact Shapley values from all 2^G coalitions."""
    n_seeds = len(next(iter(v.values())))
    phi = np.zeros((n_groups, n_seeds))
    fact = math.factorial
    for mask in range(full_mask(n_groups)):   # the full coalition has no one left to add
        size = bin(mask).count("1")
        weight = fact(size) * fact(n_groups - size - 1) / fact(n_groups)
        for g in range(n_groups):
            if not mask >> g & 1:
                phi[g] += weight * (np.asarray(v[mask | 1 << g]) - np.asarray(v[mask]))
    return phi


def sample_permutations(n_groups: int, n_permutations: int, seed: int) -> np.ndarray:
    """[permutation, position] random orders of the groups (antithetic pairs: every order is
    followed by its reverse, which lowers the sampling error)."""
    rng = np.random.default_rng(seed)
    half = [rng.permutation(n_groups) for _ in range((n_permutations + 1) // 2)]
    orders = [o for p in half for o in (p, p[::-1])]
    return np.array(orders[:n_permutations])


def permutation_coalitions(orders: np.ndarray) -> list[int]:
    """The coalitions that the sampled orders visit (every prefix of every order)."""
    seen = {0}
    for order in orders:
        mask = 0
        for g in order:
            mask |= 1 << int(g)
            seen.add(mask)
    return sorted(seen)


def permutation_marginals(v: Values, orders: np.ndarray) -> np.ndarray:
    """[permutation, group, seed] marginal contribution of each group in each order."""
    n_perm, n_groups = orders.shape
    n_seeds = len(next(iter(v.values())))
    out = np.zeros((n_perm, n_groups, n_seeds))
    for k, order in enumerate(orders):
        mask = 0
        for g in order:
            after = mask | 1 << int(g)
            out[k, g] = np.asarray(v[after]) - np.asarray(v[mask])
            mask = after
    return out


def sampled_shapley(v: Values, orders: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([group, seed] permutation-sampled Shapley values, [group] sampling standard error of
    their seed mean over the permutations)."""
    marg = permutation_marginals(v, orders)
    phi = marg.mean(axis=0)
    per_perm = marg.mean(axis=2)                      # [permutation, group], seed-averaged
    n_perm = len(orders)
    se = per_perm.std(axis=0, ddof=1) / np.sqrt(n_perm) if n_perm > 1 \
        else np.full(orders.shape[1], np.nan)
    return phi, se


def one_at_a_time(v: Values, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """([group, seed] effect of removing each group from the package: v(all) − v(all − g),
    [group, seed] effect of adding each group to the counterfactual: v({g}) − v(none))."""
    full = full_mask(n_groups)
    removal = np.array([np.asarray(v[full]) - np.asarray(v[full ^ 1 << g])
                        for g in range(n_groups)])
    addition = np.array([np.asarray(v[1 << g]) - np.asarray(v[0]) for g in range(n_groups)])
    return removal, addition


def coalitions_needed(n_groups: int, method: str, orders: np.ndarray | None = None
                      ) -> list[int]:
    """Coalitions to run for `method` ('exact' or 'sampled'), with the one-at-a-time ones."""
    base = set(one_at_a_time_coalitions(n_groups))
    if method == "exact":
        return exact_coalitions(n_groups)
    if orders is None:
        raise ValueError("sampled Shapley needs the permutation orders")
    return sorted(base | set(permutation_coalitions(orders)))


def label(mask: int, names: Sequence[str]) -> str:
    """Readable name of a coalition: '+'-joined groups, 'none' for the empty one."""
    on = [names[g] for g in members(mask, len(names))]
    return "+".join(on) if on else "none"
