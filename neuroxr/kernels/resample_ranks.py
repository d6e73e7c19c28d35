"""Spearman correlations of column pairs on stimulus resamples, each resample ranked anew.

A resample with draw counts ``w`` holds ``w_i`` tied copies of row ``i``; its Spearman correlation
ranks each column among its drawn complete rows as ``scipy.stats.spearmanr`` ranks the materialised
resample (weighted mid-ranks, :func:`neuroxr.kernels.resample.weighted_ranks`) and correlates the
ranks. Each column is sorted once (:class:`ResampledSpearman`); on a resample an entry of a tie
group then ranks ``before + (g + 1) / 2``, with ``before`` the cumulative weight below its group
and ``g`` the group's weight, so no resample is sorted. With ``N`` rows drawn, the doubled centred
ranks ``2 r - N - 1 = before + (before + g) - N`` are integers, so every sum is exact; a column
without ties has ``sum w (2 r - N - 1)^2 = (N^3 - N - sum (w^3 - w)) / 3`` (the tie correction of
the copies), from one product with the count matrix. The cumulative weights of a column come from
one product of spans of :data:`_SPAN` sorted rows with a triangle of ones, each span then shifted by
the weight of the spans before it; counts and ranks (integers within ``2 n``, or halves of them)
are exact in float32, and the sums of their products run in float64.

Ties follow the one tie rule (:func:`neuroxr.backend.tie_links`) on each resample's drawn complete
rows, as the direction ranks the resample's rows and as :func:`~neuroxr.kernels.resample.weighted_ranks`
ranks the RSA bootstraps' resamples. The sorted path above holds the full sample's tie groups (the
rule on each column's complete rows, by ``weighted_ranks``), which are a resample's groups when its
tolerance (``TIE_RTOL`` times its largest drawn magnitude) is at least the widest group's span and
below the narrowest gap between groups: always for values that tie exactly or not at all (span 0,
every gap beyond the full sample's tolerance). With near ties (unequal values within the
tolerance) a resample can group otherwise: a chain split on the full sample whose smallest value is
not drawn is one group, a tolerance shrunk by a large value not drawn unties its values. The
resamples of such a column that may (from two products of the counts with indicators of the rows
large enough to matter) are ranked by ``weighted_ranks`` itself: one place for the rule.
"""

from __future__ import annotations

import contextlib

import numpy as np

from ..backend import TIE_RTOL, cpu_threads, one_blas_thread, thread_map
from .resample import weighted_ranks
from .stats import MIN_COMPLETE

__all__ = ["ResampledSpearman"]

_ELEMS = 2**19  # (row, column, resample) entries of one block: a few 4 MB temporaries
_SUMS = 2**22  # (resample, column) entries of one call's sums: a few 32 MB arrays
_SPAN = 16  # sorted rows summed by one triangle product
_EXACT32 = 2**22  # float32 while 2 (n + 1) is below: counts and doubled ranks exact (halves of them too)


class ResampledSpearman:
    """Spearman ``rho`` of each column pair of ``a``, ``b`` on resamples, ranked anew on each.

    Parameters
    ----------
    a, b : ndarray, shape (n, k)
        Each column's values (finite), NaN at its other rows (a missing value, a row outside the
        column's stimuli); the rows NaN in either are no rows of the column, as under
        ``nan_policy="omit"``. Ranks of the values give the same numbers only where the values have
        no near ties: ranks tie exactly what the full sample's rows tie, which a resample's rows
        may not (the tie rule applies to each resample's rows).

    Notes
    -----
    Each column of ``a`` and of ``b`` is sorted once here, with its tie groups. A call costs about
    six float32 passes over ``n x k x B`` entries (a block of about ``2**19`` at a time), two
    products with a ``16 x 16`` triangle, one float64 sum of products plus one for each side with
    ties (a side without ties takes ``sum w R^2`` in closed form and its ranks from the cumulative
    weights alone), and three ``B x n x k`` products: about 4 ns per entry on one core without
    ties, 8 with them on both sides. Columns with near ties add two ``B x n`` products per side,
    and ``weighted_ranks`` of the resamples whose tie groups may differ from the full sample's.
    """

    def __init__(self, a: np.ndarray, b: np.ndarray) -> None:
        a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
        self._copy = _same_pairs(a, b)  # (k,): the column whose numbers each column takes
        kept = np.unique(self._copy)
        self._copy = np.searchsorted(kept, self._copy)
        a, b = a[:, kept], b[:, kept]
        n, k = a.shape
        valid = ~(np.isnan(a) | np.isnan(b))
        self.shape = (n, k)
        self._valid = valid.astype(float)
        live = np.arange(n)[:, None] < valid.sum(axis=0)[None, :]  # (n, k): the complete rows lead each sorted column
        orders, ties, bounds = [], [], []
        for x in (a, b):
            x = np.where(valid, x, np.inf)  # incomplete rows sort last
            orders.append(np.argsort(x, axis=0, kind="stable"))
            xs = np.take_along_axis(x, orders[-1], axis=0)
            groups = xs.copy()  # the full sample's tie groups: equal values, or (near ties) equal ranks
            near = _near_ties(xs, live)
            if near.any():  # the one tie rule on those columns' complete rows (weighted_ranks)
                r = weighted_ranks(x[:, near].T, valid[:, near].T.astype(float)).T
                groups[:, near] = np.take_along_axis(np.where(valid[:, near], r, np.inf), orders[-1][:, near], axis=0)
            ties.append(_tie_bounds(groups, live))
            bounds.append(_group_bounds(xs, ties[-1], live))
        # the columns whose tie groups a resample can change (near ties): the rows whose draw keeps
        # them (a row large enough for the widest group's span, none large enough for the narrowest
        # gap between groups), in both sides; (n, 2 m), a's then b's
        near = np.any([(span > 0) | (gap <= TIE_RTOL * top) for span, gap, top in bounds], axis=0)
        self._near = np.flatnonzero(near)
        scaled = [TIE_RTOL * np.abs(np.where(valid, x, 0.0)[:, self._near]) for x in (a, b)]
        self._keeps = np.concatenate([valid[:, self._near] & (z >= span[self._near]) for z, (span, _, _) in zip(scaled, bounds)],
                                     axis=1).astype(float)
        self._breaks = np.concatenate([valid[:, self._near] & (z >= gap[self._near]) for z, (_, gap, _) in zip(scaled, bounds)],
                                      axis=1).astype(float)
        self._near_x = [np.where(valid, x, np.nan)[:, self._near] for x in (a, b)]
        self._near_order = [np.argsort(x, axis=0) for x in self._near_x]  # NaN last
        inverse_b = np.empty_like(orders[1])
        np.put_along_axis(inverse_b, orders[1], np.arange(n)[:, None], axis=0)
        b_in_a = np.take_along_axis(inverse_b, orders[0], axis=0)  # (n, k): b's position of a's sorted rows
        # (2, k): whether each column ties in a, in b; columns untied, tied in a only, in both, in b only, in
        # this order, so that most blocks take the faster path on a side (one between two kinds on one side)
        self._tied = np.array([np.zeros(k, dtype=bool) if t is None else (t[1] - t[0] > 1).any(axis=0) for t in ties])
        self._cols = np.argsort(np.array([0, 3, 1, 2])[self._tied[0] * 2 + self._tied[1]], kind="stable")
        # sorted position p = c * _SPAN + j is stored at slot j * spans + c: the sums within each span
        # are then one product with a (_SPAN, _SPAN) triangle; at least one slot past n (zero weight)
        spans = n // _SPAN + 1
        slot = (np.arange(spans * _SPAN) % _SPAN) * spans + np.arange(spans * _SPAN) // _SPAN
        self._slots = spans * _SPAN

        def placed(x: np.ndarray, fill: int) -> np.ndarray:
            out = np.full((self._slots, k), fill, dtype=np.intp)
            out[slot[:n]] = x
            return out

        self._order_a, self._order_b = (placed(np.where(live, o, n), n) for o in orders)  # row n: zero weight
        self._b_in_a = placed(slot[b_in_a], 0)
        self._ties = [None if t is None else tuple(placed(slot[x], 0) for x in t) for t in ties]
        # counts, their sums and the doubled ranks (integers, or halves of them, within 2 n) are exact in
        # float32 below 2**23; their products are summed in float64
        self._dtype = np.float32 if 2 * (n + 1) < _EXACT32 else np.float64
        lower = np.tri(_SPAN, k=-1)
        self._within = (2 * lower + np.eye(_SPAN)).astype(self._dtype)  # 2 (weight before) + own weight
        self._below = lower.astype(self._dtype)  # the weight before

    def __call__(self, W: np.ndarray) -> np.ndarray:
        """``rho`` on the resamples ``W`` (B, n) of draw counts (non-negative integers), shape (B, k).

        A column with fewer than :data:`~neuroxr.kernels.stats.MIN_COMPLETE` distinct complete rows
        drawn, or whose drawn ranks all tie: NaN. ``W = ones((1, n))``: the full sample's Spearman
        correlation of each column pair."""
        W = np.asarray(W, dtype=float)
        n, k = self.shape
        B = W.shape[0]
        chunk = max(1, _SUMS // max(k, 1))
        if B > chunk:  # many resamples of many columns: their sums a chunk at a time
            return np.concatenate([self(W[lo : lo + chunk]) for lo in range(0, B, chunk)])
        N = W @ self._valid
        with np.errstate(invalid="ignore", divide="ignore"):  # no ties: sum w R^2 from the copies alone
            free = (N**3 - N - (W**3 - W) @ self._valid) / 3
        sums = np.full((3, B, k), np.nan)  # sum w Ra Rb, sum w Ra^2, sum w Rb^2
        Wx = np.zeros((n + 1, B), dtype=self._dtype)  # row n: zero weight (the incomplete rows)
        Wx[:n] = W.T
        slots = self._slots
        step = max(1, min(B, _ELEMS // slots))
        width = max(1, _ELEMS // (slots * step))
        blocks = [(slice(b0, min(B, b0 + step)), self._cols[c0 : c0 + width])
                  for b0 in range(0, B, step) for c0 in range(0, k, width)]
        threads = min(cpu_threads(), len(blocks))

        def run(mine: list[tuple[slice, np.ndarray]]) -> None:
            buf = np.empty((6, slots * min(width, k) * min(step, B)), dtype=self._dtype)  # reused: fresh blocks would be paged in again
            for rows, cols in mine:
                sums[:, rows, cols] = self._sums(Wx[:, rows], N[rows][:, cols].T.astype(self._dtype), cols, buf)

        with one_blas_thread() if threads > 1 else contextlib.nullcontext():  # the triangle products on one thread each
            thread_map(run, [blocks[t::threads] for t in range(threads)], threads)
        sab, saa, sbb = sums
        saa, sbb = (np.where(tied, s, free) for tied, s in zip(self._tied, (saa, sbb)))
        with np.errstate(invalid="ignore", divide="ignore"):
            rho = sab / np.sqrt(saa * sbb)
        if self._near.size:  # the resamples whose tie groups may differ from the full sample's: ranked anew
            m = self._near.size
            keep = (W @ self._keeps > 0) & (W @ self._breaks == 0)
            for i, j in enumerate(self._near):
                rows = np.flatnonzero(~(keep[:, i] & keep[:, m + i]))
                if rows.size:
                    rho[rows, j] = self._ranked_anew(W[rows], i, j)
        return np.where((W > 0).astype(float) @ self._valid >= MIN_COMPLETE, rho, np.nan)[:, self._copy]

    def _ranked_anew(self, W: np.ndarray, i: int, j: int) -> np.ndarray:
        """``rho`` (B,) of column ``j`` (the ``i``-th with near ties) on the resamples ``W`` (B, n), each
        side ranked by :func:`~neuroxr.kernels.resample.weighted_ranks` on the drawn complete rows
        (the one tie rule on the present entries); the sums of the doubled centred ranks, as
        :meth:`_sums`, are exact."""
        w = W * self._valid[:, j]
        N = w.sum(axis=1, keepdims=True)
        Ra, Rb = (2 * weighted_ranks(x[:, i], w, o[:, i]) - N - 1 for x, o in zip(self._near_x, self._near_order))
        sab, saa, sbb = (np.einsum("bi,bi,bi->b", w, x, y) for x, y in ((Ra, Rb), (Ra, Ra), (Rb, Rb)))
        with np.errstate(invalid="ignore", divide="ignore"):
            return sab / np.sqrt(saa * sbb)

    def _sums(self, Wx: np.ndarray, N: np.ndarray, cols: np.ndarray, buf: np.ndarray) -> np.ndarray:
        """``[sum w Ra Rb, sum w Ra^2, sum w Rb^2]`` (3, B, m) of the doubled centred ranks of the
        columns ``cols`` on the resamples of ``Wx`` (n + 1, B) with drawn weight ``N`` (m, B) (a side's
        sum NaN unless a column ties on that side: :meth:`__call__` has them); ``buf``: scratch."""
        m, B, slots = cols.size, Wx.shape[1], self._slots
        Ga, Gb, Ra, Rb, D, T = (buf[i, : slots * m * B].reshape(_SPAN, slots // _SPAN, m, B) for i in range(6))
        out = np.full((3, B, m), np.nan)
        for side, (order, ties, G, R) in enumerate(((self._order_a, self._ties[0], Ga, Ra),
                                                   (self._order_b, self._ties[1], Gb, Rb))):
            tied = bool(self._tied[side, cols].any())  # a column of the block ties on this side
            np.take(Wx, order[:, cols], axis=0, out=G.reshape(slots, m, B), mode="clip")  # the weights in sorted order
            if not tied:  # before + (before + w) - N
                np.matmul(self._within, G.reshape(_SPAN, -1), out=R.reshape(_SPAN, -1))
                np.add(R, _carried(np.add(R[-1], G[-1]), np.negative(N)), out=R)  # twice each span's weight
            else:  # before + (before + g) - N, g the weight of the row's tie group
                np.matmul(self._below, G.reshape(_SPAN, -1), out=D.reshape(_SPAN, -1))
                np.add(D, _carried(np.add(D[-1], G[-1]), np.multiply(N, -0.5)), out=D)  # the weight below less half the total
                flat, lanes = D.reshape(slots * m, B), np.arange(m)
                start, stop = (t[:, cols] * m + lanes for t in ties)
                np.take(flat, start.ravel(), axis=0, out=R.reshape(slots * m, B), mode="clip")
                np.add(R, np.take(flat, stop.ravel(), axis=0, out=T.reshape(slots * m, B), mode="clip").reshape(R.shape),
                       out=R)
            if tied:  # sum w R^2, in float64 (exact)
                out[1 + side] = np.einsum("jclb,jclb,jclb->bl", G, R, R, dtype=np.float64)
        # b's ranks in a's sorted order
        np.take(Rb.reshape(slots * m, B), (self._b_in_a[:, cols] * m + np.arange(m)).ravel(), axis=0,
                out=T.reshape(slots * m, B), mode="clip")
        out[0] = np.einsum("jclb,jclb,jclb->bl", Ga, Ra, T, dtype=np.float64)
        return out


def _carried(span: np.ndarray, first: np.ndarray) -> np.ndarray:
    """``first + sum(span[:c])`` (c, m, B) at each ``c`` for ``span`` (c, m, B) and ``first`` (m, B):
    one row at a time, faster than ``cumsum`` along the first axis."""
    out = np.empty_like(span)
    out[0] = first
    for c in range(1, span.shape[0]):
        np.add(out[c - 1], span[c - 1], out=out[c])
    return out


def _same_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """For each column pair of ``a``, ``b`` (n, k), the first column pair equal to it or to its swap
    ``(b, a)`` (the same correlation): reps whose halves share a split (few repeats) are computed once."""
    first: dict[bytes, int] = {}
    out = np.empty(a.shape[1], dtype=int)
    for j in range(a.shape[1]):
        x, y = a[:, j].tobytes(), b[:, j].tobytes()
        out[j] = first.get(x + y, first.get(y + x, j))
        first.setdefault(x + y, out[j])
    return out


def _near_ties(xs: np.ndarray, live: np.ndarray) -> np.ndarray:
    """(k,) whether sorted columns ``xs`` (n, k), complete at ``live``, hold unequal neighbours within
    ``TIE_RTOL`` times the column's largest magnitude: the columns whose tie groups are not those of
    equal values."""
    top = np.where(live, np.abs(xs), 0.0).max(axis=0, initial=0.0)
    with np.errstate(invalid="ignore"):  # inf - inf past the complete rows
        gaps = np.diff(xs, axis=0)
        return ((gaps > 0) & (gaps <= TIE_RTOL * top) & live[1:]).any(axis=0)


def _group_bounds(xs: np.ndarray, ties: tuple[np.ndarray, np.ndarray] | None,
                  live: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(span, gap, top)`` (k,) of sorted columns ``xs`` (n, k) (each tie group's values ascending),
    complete at ``live``, with tie groups ``ties`` (:func:`_tie_bounds`): the widest group's span
    (0: ties of equal values only), the narrowest gap between neighbouring groups (inf: none) and
    the largest magnitude. A resample's rows whose tolerance (``TIE_RTOL`` times their largest
    magnitude) is at least ``span`` and below ``gap`` hold the full sample's groups (their rows
    drawn): no group's drawn values span more, no two groups' come closer."""
    n, k = xs.shape
    start = np.broadcast_to(np.arange(n)[:, None], (n, k)) if ties is None else ties[0]
    with np.errstate(invalid="ignore"):  # inf - inf past the complete rows
        span = np.where(live, xs - np.take_along_axis(xs, start, axis=0), 0.0).max(axis=0, initial=0.0)
        first = (start == np.arange(n)[:, None])[1:] & live[1:]  # a group's first row, after another
        gap = np.where(first, np.diff(xs, axis=0), np.inf).min(axis=0, initial=np.inf)
    return span, gap, np.where(live, np.abs(xs), 0.0).max(axis=0, initial=0.0)


def _tie_bounds(xs: np.ndarray, live: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Each position's tie group ``(start, stop)`` (n, k) in sorted columns ``xs`` (n, k), complete
    at ``live`` (the group is ``start:stop``); ``None`` when no column has a tie."""
    tied = (xs[1:] == xs[:-1]) & live[1:]
    if not tied.any():
        return None
    n, k = xs.shape
    pos = np.arange(n)[:, None]
    first = np.ones((n, k), dtype=bool)
    first[1:] = ~tied
    last = np.ones((n, k), dtype=bool)
    last[:-1] = ~tied
    start = np.maximum.accumulate(np.where(first, pos, 0), axis=0)
    stop = np.minimum.accumulate(np.where(last, pos + 1, n)[::-1], axis=0)[::-1]
    return start, stop
