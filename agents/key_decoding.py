"""Turning a policy's per-step key probabilities into presses.

A press is a rare switch to which a policy gives a moderate probability on each of a
few steps, so thresholding P(down) > 0.5 presses late or never, and sampling every step
scatters presses.  :class:`MedianKeys` switches each key at the median of the predicted
switch time instead; the BC and GAIL/AIRL players share it.
"""
from __future__ import annotations

import numpy as np


class MedianKeys:
    """Two keys, each flipped once the chance of having flipped by now passes 0.5: the
    per-step P(down) given the key's last state is a hazard, and the key switches when
    1 - (product of the survivals since its last switch) exceeds one half."""

    def __init__(self):
        self.down = [False, False]
        self.survival = [1.0, 1.0]

    def step(self, p_down: list[float]) -> list[bool]:
        """The keys held this step, given this step's P(down) of each."""
        for j, p in enumerate(p_down):
            self.survival[j] *= p if self.down[j] else 1.0 - p
            if self.survival[j] < 0.5:
                self.down[j], self.survival[j] = not self.down[j], 1.0
        return list(self.down)

    def hold_one(self, p_down: list[float]) -> list[bool]:
        """The keys after :meth:`step`, with one held if none is: a spinner counts turns
        only while a key is down.  The more probable key goes down (its switch restarts)."""
        if not any(self.down):
            j = int(p_down[1] > p_down[0])
            self.down[j], self.survival[j] = True, 1.0
        return list(self.down)


class MedianKeysVec:
    """:class:`MedianKeys` for ``n`` plays at once (numpy), for a vector env's actions."""

    def __init__(self, n: int):
        self.down = np.zeros((n, 2), bool)
        self.survival = np.ones((n, 2))

    def reset(self, which: np.ndarray) -> None:
        """Start the plays ``which`` (a mask or indices) again with no key held."""
        self.down[which] = False
        self.survival[which] = 1.0

    def step(self, p_down: np.ndarray, hold_one: np.ndarray | None = None) -> np.ndarray:
        """The keys held this step (n, 2) given P(down) (n, 2); where ``hold_one`` (n,) is
        set, :meth:`MedianKeys.hold_one` after the step."""
        self.survival *= np.where(self.down, p_down, 1.0 - p_down)
        flip = self.survival < 0.5
        self.down ^= flip
        self.survival[flip] = 1.0
        if hold_one is not None:
            none = hold_one & ~self.down.any(1)
            j = (p_down[:, 1] > p_down[:, 0]).astype(int)
            rows = np.flatnonzero(none)
            self.down[rows, j[rows]] = True
            self.survival[rows, j[rows]] = 1.0
        return self.down.copy()
