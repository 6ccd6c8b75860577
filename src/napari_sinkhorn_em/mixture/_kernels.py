"""numba kernels for the Gaussian mixture: one pass over the points each.

Every kernel splits the rows into a fixed number of contiguous blocks that depends
only on the number of rows, runs the blocks in parallel with per-block
accumulators, and reduces the accumulators in block order afterwards. The result
is therefore bit-identical whatever the number of threads.

Inside a block the rows are processed in tiles of ``TILE_ROWS``, stored
transposed (feature or component first, row last), so that every inner loop runs
over the rows of a tile and compiles to SIMD instructions. The exponential in the
softmax is evaluated by :func:`_exp_tile`, a vectorisable polynomial accurate to
about one unit in the last place (libm's ``exp`` does not vectorise here).

Conventions shared by all kernels:

- ``X`` is (n, d) float32 or float64; ``centre`` (d,) is subtracted from every
  row before use (it keeps the second moments well conditioned); ``means`` (K, d)
  are given relative to ``centre``.
- ``prec_chol`` (K, d, d) is the upper-triangular Cholesky factor U of each
  precision matrix (precision = U U^T), ``log_det`` (K,) is sum(log(diag(U))).
  Diagonal and spherical models pass diagonal U.
- ``log_prob`` (K, n), component-major, holds log N(x_i; mu_k, Sigma_k) in
  ``log_prob[k, i]``: a tile of it is then contiguous rows, which the passes
  read without transposing.
- Responsibilities are ``softmax_k((log_prob[k, i] + shift[k]) * inv_eps)``:
  EM uses ``shift = log(weights)``, ``inv_eps = 1``; Sinkhorn-EM uses the dual
  potentials and ``1 / epsilon``.
- A component whose responsibilities in a tile are all below
  ``NEGLIGIBLE_RESPONSIBILITY`` adds nothing to that tile's moments (at most
  ``TILE_ROWS * 1e-30`` of mass is left out per tile), and below
  ``NEGLIGIBLE_FOR_HESSIAN`` nothing to its outer products.
"""

import contextlib
import math
import os

# OpenMP threads that spin while they wait take the cores from other work and from each other; on a
# busy machine that made fits 10-20 times slower than one thread. The package sets the passive
# policy unless the user chose one, before numba starts its OpenMP threads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402

# Log-domain code meets -inf, so no "ninf"/"nnan" flags (that is what fastmath=True implies).
SAFE_FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
# The exponential's range reduction (x - n log 2 in two parts) must not be re-associated.
EXP_FASTMATH = {"nsz", "arcp", "contract"}
LOG_2PI = math.log(2.0 * math.pi)
MAX_BLOCKS = 256
MIN_BLOCK_ROWS = 1024
TILE_ROWS = 128
NEGLIGIBLE_RESPONSIBILITY = 1e-30
# Newton's Hessian on the dual needs far less precision than the M-step: there a component adds
# nothing to a tile's outer products when its responsibilities stay below this.
NEGLIGIBLE_FOR_HESSIAN = 1e-12
# The posterior is derived from the plan while exp(log_weights - potentials) spans at most e**300.
MAX_REWEIGHTING_SPREAD = 300.0
# From this many components active in a tile on, its outer products are summed row by row.
SPARSE_OUTER_ACTIVE = 24
# exp(x) for x below this is returned as 0 (exp(-708) is the smallest normal float64's order).
EXP_MIN = -708.0
_LOG2_E = 1.4426950408889634
# log(2) split into a part with trailing zero bits (so n * _LN2_HIGH is exact) and the rest.
_LN2_HIGH = 6.93147180369123816490e-01
_LN2_LOW = 1.90821492927058770002e-10
_EXP_COEFFICIENTS = tuple(1.0 / math.factorial(i) for i in range(14))
# 1.5 * 2**52: adding it to |x| < 2**51 rounds x to an integer n held in the sum's low bits.
_ROUNDING_SHIFTER = 6755399441055744.0
_ROUNDING_SHIFTER_BITS = np.int64(0x4338000000000000)


# Below this many multiply-adds a pass runs on one thread: starting and joining threads would cost
# more than they save, and on a busy machine a waiting thread can stall the pass.
MIN_PARALLEL_WORK = 4_000_000


def n_blocks_for(n_rows):
    """Number of row blocks used for ``n_rows`` rows (a function of ``n_rows`` only)."""
    return max(1, min(MAX_BLOCKS, -(-n_rows // MIN_BLOCK_ROWS)))


def pass_work(n_rows, n_components, n_features):
    """Rough number of multiply-adds of one pass (log-densities, softmax and moments)."""
    return n_rows * n_components * (n_features * (n_features + 3) + 30)


@contextlib.contextmanager
def threads_for(work):
    """Run the passes inside on one thread when ``work`` is below ``MIN_PARALLEL_WORK``.

    numba's thread count is per calling thread, so this does not affect other threads
    (a napari worker and the main thread). Results do not depend on the thread count.
    """
    if work >= MIN_PARALLEL_WORK:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)


# ------------------------------------------------------------------ tile primitives
@numba.njit(cache=True, fastmath=EXP_FASTMATH, error_model="numpy")
def _exp_tile(z, n_tile, rounded, out):
    """``out[t] = exp(z[t])`` for ``z <= 0`` (0 below ``EXP_MIN``), in SIMD loops.

    exp(z) = 2**n * exp(r) with n = round(z / log 2) and |r| <= log(2) / 2; exp(r)
    is its Taylor polynomial to degree 13 (truncation error below 1e-17). n is
    rounded by adding ``_ROUNDING_SHIFTER``, which leaves n in the low bits of the
    sum; ``rounded`` (a float64 buffer) holds those sums and is then overwritten
    with the bits of 2**n, built by integer arithmetic on its int64 view (AVX2 has
    no vector conversion from float64 to int64).
    """
    c = _EXP_COEFFICIENTS
    for t in range(n_tile):
        v = max(z[t], EXP_MIN)
        shifted = v * _LOG2_E + _ROUNDING_SHIFTER
        n = shifted - _ROUNDING_SHIFTER
        r = (v - n * _LN2_HIGH) - n * _LN2_LOW
        out[t] = 1.0 + r * (1.0 + r * (c[2] + r * (c[3] + r * (c[4] + r * (c[5] + r * (
            c[6] + r * (c[7] + r * (c[8] + r * (c[9] + r * (c[10] + r * (c[11] + r * (
                c[12] + r * c[13]))))))))))))
        rounded[t] = shifted
    bits = rounded.view(np.int64)
    for t in range(n_tile):
        bits[t] = (bits[t] - _ROUNDING_SHIFTER_BITS + 1023) << 52
    for t in range(n_tile):
        out[t] = out[t] * rounded[t] if z[t] >= EXP_MIN else 0.0


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _load_rows(X, centre, start, n_tile, rows):
    """``rows[i, t] = X[start + t, i] - centre[i]``."""
    for t in range(n_tile):
        for i in range(X.shape[1]):
            rows[i, t] = X[start + t, i] - centre[i]


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _log_density_tile(rows, n_tile, means, prec_chol, log_det, out, work):
    """``out[k, t] = log N(row t; mean k, covariance k)`` for the centred ``rows`` (d, tile).

    The projections (x - mu)^T U[:, j] add three features per sweep over the tile: a sweep
    per feature would load and store the projections once per multiply-add.
    """
    n_components, n_features = means.shape
    constant = n_features * LOG_2PI
    projected = work[0]
    squared = work[1]
    for k in range(n_components):
        for t in range(n_tile):
            squared[t] = 0.0
        for j in range(n_features):
            # (x - mu)^T U[:, j] = x^T U[:, j] - mu^T U[:, j]
            offset = 0.0
            for i in range(j + 1):
                offset += means[k, i] * prec_chol[k, i, j]
            # The first sweep sets the projections, offset included: a separate sweep setting them
            # to -offset made the whole tile 1.3-1.5 times slower.
            u0 = prec_chol[k, 0, j]
            if j == 0:
                for t in range(n_tile):
                    projected[t] = rows[0, t] * u0 - offset
                i = 1
            elif j == 1:
                u1 = prec_chol[k, 1, j]
                for t in range(n_tile):
                    projected[t] = rows[0, t] * u0 + rows[1, t] * u1 - offset
                i = 2
            else:
                u1 = prec_chol[k, 1, j]
                u2 = prec_chol[k, 2, j]
                for t in range(n_tile):
                    projected[t] = rows[0, t] * u0 + rows[1, t] * u1 + rows[2, t] * u2 - offset
                i = 3
            while i + 2 <= j:
                u0 = prec_chol[k, i, j]
                u1 = prec_chol[k, i + 1, j]
                u2 = prec_chol[k, i + 2, j]
                for t in range(n_tile):
                    projected[t] += rows[i, t] * u0 + rows[i + 1, t] * u1 + rows[i + 2, t] * u2
                i += 3
            while i <= j:
                u0 = prec_chol[k, i, j]
                for t in range(n_tile):
                    projected[t] += rows[i, t] * u0
                i += 1
            for t in range(n_tile):
                squared[t] += projected[t] * projected[t]
        for t in range(n_tile):
            out[k, t] = log_det[k] - 0.5 * (constant + squared[t])


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _softmax_tile(log_prob, n_tile, shift, inv_eps, out, work):
    """``out[:, t] = softmax_k((log_prob[k, t] + shift[k]) * inv_eps)``; return the summed
    log normalisers of the tile's rows.

    A row that is -inf everywhere (a point beyond float range of every component) gets
    the uniform row 1/K, not NaN; its log normaliser is -inf.
    """
    n_components = log_prob.shape[0]
    largest = work[0]
    total = work[1]
    shifted = work[2]
    for t in range(n_tile):
        largest[t] = -np.inf
        total[t] = 0.0
    for k in range(n_components):
        s = shift[k]
        for t in range(n_tile):
            largest[t] = max(largest[t], (log_prob[k, t] + s) * inv_eps)
    for k in range(n_components):
        s = shift[k]
        for t in range(n_tile):
            shifted[t] = (log_prob[k, t] + s) * inv_eps - largest[t]
        _exp_tile(shifted, n_tile, work[3], out[k])
        for t in range(n_tile):
            total[t] += out[k, t]
    for t in range(n_tile):
        total[t] = 1.0 / total[t]
    for k in range(n_components):
        for t in range(n_tile):
            out[k, t] *= total[t]
    log_normalisers = 0.0
    for t in range(n_tile):
        if largest[t] == -np.inf:
            for k in range(n_components):
                out[k, t] = 1.0 / n_components
            log_normalisers += -np.inf
        else:
            log_normalisers += largest[t] - math.log(total[t])
    return log_normalisers


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _reweighted_column_sums_tile(resp, n_tile, factor, largest, scale, sums):
    """Add the column sums of the tile's rows reweighted, ``resp[k, t] * factor[k]``, and
    renormalised to ``sums``; return the summed logs of the rows' reweighted totals.

    ``largest`` is the work row in which :func:`_softmax_tile` left each row's largest
    exponent: a row that was -inf everywhere (given the uniform row) counts as uniform
    here too. ``scale`` is a work row.
    """
    n_components = resp.shape[0]
    for t in range(n_tile):
        scale[t] = 0.0
    for k in range(n_components):
        f = factor[k]
        for t in range(n_tile):
            scale[t] += resp[k, t] * f
    log_totals = 0.0
    for t in range(n_tile):
        log_totals += math.log(scale[t])
        scale[t] = 1.0 / scale[t]
    for k in range(n_components):
        total = 0.0
        for t in range(n_tile):
            total += resp[k, t] * scale[t]
        sums[k] += total * factor[k]
    for t in range(n_tile):
        if largest[t] == -np.inf:
            for k in range(n_components):
                sums[k] += (1.0 - factor[k] * scale[t]) / n_components
    return log_totals


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _active_components(resp, n_tile, cutoff, active):
    """Write the components with a responsibility of at least ``cutoff`` somewhere in the
    tile into ``active``; return their number."""
    n_active = 0
    for k in range(resp.shape[0]):
        largest = 0.0
        for t in range(n_tile):
            largest = max(largest, resp[k, t])
        if largest >= cutoff:
            active[n_active] = k
            n_active += 1
    return n_active


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _moments_tile(rows, resp, n_tile, active, n_active, mass, first, second, weighted):
    """Add the tile's sum r, sum r x and the upper triangle of sum r x x^T to the accumulators."""
    n_features = rows.shape[0]
    for a in range(n_active):
        k = active[a]
        column = 0.0
        for t in range(n_tile):
            column += resp[k, t]
        mass[k] += column
        for i in range(n_features):
            total = 0.0
            for t in range(n_tile):
                weighted[t] = resp[k, t] * rows[i, t]
                total += weighted[t]
            first[k, i] += total
            # Three entries of the row per sweep over the tile (one load of the weights for three).
            j = i
            while j + 3 <= n_features:
                total0 = 0.0
                total1 = 0.0
                total2 = 0.0
                for t in range(n_tile):
                    w = weighted[t]
                    total0 += w * rows[j, t]
                    total1 += w * rows[j + 1, t]
                    total2 += w * rows[j + 2, t]
                second[k, i, j] += total0
                second[k, i, j + 1] += total1
                second[k, i, j + 2] += total2
                j += 3
            while j < n_features:
                total0 = 0.0
                for t in range(n_tile):
                    total0 += weighted[t] * rows[j, t]
                second[k, i, j] += total0
                j += 1


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _column_sums_tile(resp, n_tile, sums):
    for k in range(resp.shape[0]):
        total = 0.0
        for t in range(n_tile):
            total += resp[k, t]
        sums[k] += total


@numba.njit(cache=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _outer_tile(resp, n_tile, active, n_active, row_active, outer):
    """Add the upper triangle of sum_t r_t r_t^T (over the active components) to ``outer``.

    With many active components each row holds only a few of them (many components,
    each near few points): then the products are summed row by row over that row's own
    components, not over every pair of the tile's.
    """
    if n_active >= SPARSE_OUTER_ACTIVE:
        for t in range(n_tile):
            n_row = 0
            for a in range(n_active):
                k = active[a]
                if resp[k, t] >= NEGLIGIBLE_FOR_HESSIAN:
                    row_active[n_row] = k
                    n_row += 1
            for a in range(n_row):
                k = row_active[a]
                rk = resp[k, t]
                for b in range(a, n_row):
                    j = row_active[b]
                    outer[k, j] += rk * resp[j, t]
        return
    for a in range(n_active):
        k = active[a]
        # Three partners per sweep over the tile (one load of column k for three products).
        b = a
        while b + 3 <= n_active:
            j0 = active[b]
            j1 = active[b + 1]
            j2 = active[b + 2]
            total0 = 0.0
            total1 = 0.0
            total2 = 0.0
            for t in range(n_tile):
                r = resp[k, t]
                total0 += r * resp[j0, t]
                total1 += r * resp[j1, t]
                total2 += r * resp[j2, t]
            _add_upper(outer, k, j0, total0)
            _add_upper(outer, k, j1, total1)
            _add_upper(outer, k, j2, total2)
            b += 3
        while b < n_active:
            j0 = active[b]
            total0 = 0.0
            for t in range(n_tile):
                total0 += resp[k, t] * resp[j0, t]
            _add_upper(outer, k, j0, total0)
            b += 1


@numba.njit(cache=True, inline="always")
def _add_upper(outer, k, j, value):
    """Add ``value`` to the entry (k, j) or (j, k) of the upper triangle of ``outer``."""
    if j >= k:
        outer[k, j] += value
    else:
        outer[j, k] += value


@numba.njit(cache=True)
def _sum_in_order(values):
    """Sum in index order (inside a parallel kernel ``values.sum()`` becomes a parallel
    reduction, whose order, and so whose last bits, depend on the thread count)."""
    total = 0.0
    for value in values:
        total += value
    return total


@numba.njit(cache=True)
def _reduce_moments(block_mass, block_first, block_second):
    n_blocks, n_components, n_features = block_first.shape
    mass = np.zeros(n_components)
    first = np.zeros((n_components, n_features))
    second = np.zeros((n_components, n_features, n_features))
    for b in range(n_blocks):
        mass += block_mass[b]
        first += block_first[b]
        second += block_second[b]
    for k in range(n_components):
        for i in range(n_features):
            for j in range(i):
                second[k, i, j] = second[k, j, i]
    return mass, first, second


@numba.njit(cache=True)
def _reduce_plan(block_mass, block_outer, block_moment_mass, block_first, block_second):
    n_blocks, n_components = block_mass.shape
    outer_size = block_outer.shape[1]
    mass = np.zeros(n_components)
    outer = np.zeros((outer_size, outer_size))
    for b in range(n_blocks):
        mass += block_mass[b]
        outer += block_outer[b]
    for k in range(outer_size):
        for j in range(k):
            outer[k, j] = outer[j, k]
    _, first, second = _reduce_moments(block_moment_mass, block_first, block_second)
    return mass, outer, first, second


# ------------------------------------------------------------------ passes
@numba.njit(cache=True, inline="always")
def _block_bounds(block, n_rows, n_blocks):
    """The rows [start, stop) of one block of a pass: blocks split the rows evenly, in order."""
    return block * n_rows // n_blocks, (block + 1) * n_rows // n_blocks


@numba.njit(cache=True, inline="always")
def _tile_workspace(n_features, n_components):
    """One block's scratch arrays: a tile of rows, log-densities, responsibilities,
    four rows of work space (the softmax and the exponential use all four) and two lists of
    active components."""
    rows = np.empty((n_features, TILE_ROWS))
    tile = np.empty((n_components, TILE_ROWS))
    resp = np.empty((n_components, TILE_ROWS))
    work = np.empty((4, TILE_ROWS))
    active = np.empty(n_components, dtype=np.int64)
    row_active = np.empty(n_components, dtype=np.int64)
    return rows, tile, resp, work, active, row_active


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _em_pass(X, centre, means, prec_chol, log_det, log_weights, n_blocks):
    """One fused EM pass: log-densities, E-step and M-step moments, no (n, K) buffer.

    Returns the summed log-likelihood and the moments (sum r, sum r x, sum r x x^T)
    of the centred data.
    """
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    block_loglik = np.zeros(n_blocks)
    block_mass = np.zeros((n_blocks, n_components))
    block_first = np.zeros((n_blocks, n_components, n_features))
    block_second = np.zeros((n_blocks, n_components, n_features, n_features))
    for b in numba.prange(n_blocks):
        start, stop = _block_bounds(b, n_rows, n_blocks)
        rows, log_prob, resp, work, active, _ = _tile_workspace(n_features, n_components)
        for tile_start in range(start, stop, TILE_ROWS):
            n_tile = min(TILE_ROWS, stop - tile_start)
            _load_rows(X, centre, tile_start, n_tile, rows)
            _log_density_tile(rows, n_tile, means, prec_chol, log_det, log_prob, work)
            block_loglik[b] += _softmax_tile(
                log_prob, n_tile, log_weights, 1.0, resp, work
            )
            n_active = _active_components(resp, n_tile, NEGLIGIBLE_RESPONSIBILITY, active)
            _moments_tile(rows, resp, n_tile, active, n_active, block_mass[b], block_first[b],
                          block_second[b], work[0])
    mass, first, second = _reduce_moments(block_mass, block_first, block_second)
    return _sum_in_order(block_loglik), mass, first, second


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _log_prob_pass(X, centre, means, prec_chol, log_det, log_prob, n_blocks):
    """Fill ``log_prob`` (K, n) with the log-density of every row under every component."""
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    for b in numba.prange(n_blocks):
        start, stop = _block_bounds(b, n_rows, n_blocks)
        rows, tile, _, work, _, _ = _tile_workspace(n_features, n_components)
        for tile_start in range(start, stop, TILE_ROWS):
            n_tile = min(TILE_ROWS, stop - tile_start)
            _load_rows(X, centre, tile_start, n_tile, rows)
            _log_density_tile(rows, n_tile, means, prec_chol, log_det, tile, work)
            for k in range(n_components):
                for t in range(n_tile):
                    log_prob[k, tile_start + t] = tile[k, t]


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _log_prob_plan_pass(X, centre, means, prec_chol, log_det, log_weights, shift, inv_eps,
                       want_outer, log_prob, n_blocks):
    """Evaluate the plan at potentials ``shift`` straight from the points, in one pass.

    Fills ``log_prob`` (K, n) unless it has no columns. Returns the summed
    log-likelihood with ``log_weights``, the column sums of the ordinary posterior,
    and what :func:`softmax_pass` returns for the plan (column sums, summed
    log-normalisers, outer products if wanted, M-step moments). Late in a fit
    Sinkhorn-EM's E-step is this one evaluation.
    """
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    store = log_prob.shape[1] > 0
    outer_size = n_components if want_outer else 0
    block_loglik = np.zeros(n_blocks)
    block_posterior = np.zeros((n_blocks, n_components))
    block_lse = np.zeros(n_blocks)
    block_mass = np.zeros((n_blocks, n_components))
    block_outer = np.zeros((n_blocks, outer_size, outer_size))
    block_first = np.zeros((n_blocks, n_components, n_features))
    block_second = np.zeros((n_blocks, n_components, n_features, n_features))
    # At epsilon = 1 the posterior is the plan reweighted by exp(log_weights - shift) per column:
    # K multiplications per row instead of a second exponential each, while those factors span
    # few enough orders of magnitude that no entry that matters has underflowed in the plan.
    offsets = log_weights - shift
    largest_offset = offsets.max()
    reweighting = np.exp(offsets - largest_offset)
    posterior_from_plan = inv_eps == 1.0 and largest_offset - offsets.min() <= MAX_REWEIGHTING_SPREAD
    for b in numba.prange(n_blocks):
        start, stop = _block_bounds(b, n_rows, n_blocks)
        rows, tile, resp, work, active, row_active = _tile_workspace(n_features, n_components)
        moment_mass = np.zeros(n_components)
        for tile_start in range(start, stop, TILE_ROWS):
            n_tile = min(TILE_ROWS, stop - tile_start)
            _load_rows(X, centre, tile_start, n_tile, rows)
            _log_density_tile(rows, n_tile, means, prec_chol, log_det, tile, work)
            if store:
                for k in range(n_components):
                    for t in range(n_tile):
                        log_prob[k, tile_start + t] = tile[k, t]
            if posterior_from_plan:
                plan_lse = _softmax_tile(tile, n_tile, shift, inv_eps, resp, work)
                block_lse[b] += plan_lse
                block_loglik[b] += plan_lse + n_tile * largest_offset + _reweighted_column_sums_tile(
                    resp, n_tile, reweighting, work[0], work[1], block_posterior[b]
                )
            else:
                block_loglik[b] += _softmax_tile(tile, n_tile, log_weights, 1.0, resp, work)
                _column_sums_tile(resp, n_tile, block_posterior[b])
                block_lse[b] += _softmax_tile(tile, n_tile, shift, inv_eps, resp, work)
            _column_sums_tile(resp, n_tile, block_mass[b])
            if want_outer:
                n_active = _active_components(resp, n_tile, NEGLIGIBLE_FOR_HESSIAN, active)
                _outer_tile(resp, n_tile, active, n_active, row_active, block_outer[b])
            n_active = _active_components(resp, n_tile, NEGLIGIBLE_RESPONSIBILITY, active)
            _moments_tile(rows, resp, n_tile, active, n_active, moment_mass, block_first[b],
                          block_second[b], work[0])
    posterior_mass = np.zeros(n_components)
    for b in range(n_blocks):
        posterior_mass += block_posterior[b]
    mass, outer, first, second = _reduce_plan(
        block_mass, block_outer, block_mass, block_first, block_second
    )
    return _sum_in_order(block_loglik), posterior_mass, mass, _sum_in_order(block_lse), outer, first, second


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _softmax_pass(log_prob, shift, inv_eps, want_outer, X, centre, resp_out, n_blocks):
    """One pass of r_i = softmax((log_prob[:, i] + shift) * inv_eps) over stored log-densities.

    Always returns the column sums of r and the summed row log-normalisers.
    With ``want_outer`` it also returns sum_i r_i r_i^T (for Newton's method on the
    dual); with a non-empty ``X`` the M-step moments of r; with a non-empty
    ``resp_out`` (n, K) it writes r there. Empty (0-row) arrays switch those parts off.
    """
    n_components, n_rows = log_prob.shape
    n_features = X.shape[1]
    with_moments = X.shape[0] > 0
    with_resp = resp_out.shape[0] > 0
    outer_size = n_components if want_outer else 0
    moment_size = n_components if with_moments else 0
    block_lse = np.zeros(n_blocks)
    block_mass = np.zeros((n_blocks, n_components))
    block_outer = np.zeros((n_blocks, outer_size, outer_size))
    block_moment_mass = np.zeros((n_blocks, moment_size))
    block_first = np.zeros((n_blocks, moment_size, n_features))
    block_second = np.zeros((n_blocks, moment_size, n_features, n_features))
    for b in numba.prange(n_blocks):
        start, stop = _block_bounds(b, n_rows, n_blocks)
        rows, tile, resp, work, active, row_active = _tile_workspace(n_features, n_components)
        for tile_start in range(start, stop, TILE_ROWS):
            n_tile = min(TILE_ROWS, stop - tile_start)
            for k in range(n_components):
                for t in range(n_tile):
                    tile[k, t] = log_prob[k, tile_start + t]
            block_lse[b] += _softmax_tile(tile, n_tile, shift, inv_eps, resp, work)
            _column_sums_tile(resp, n_tile, block_mass[b])
            if want_outer:
                n_active = _active_components(resp, n_tile, NEGLIGIBLE_FOR_HESSIAN, active)
                _outer_tile(resp, n_tile, active, n_active, row_active, block_outer[b])
            if with_moments:
                n_active = _active_components(resp, n_tile, NEGLIGIBLE_RESPONSIBILITY, active)
                _load_rows(X, centre, tile_start, n_tile, rows)
                _moments_tile(rows, resp, n_tile, active, n_active, block_moment_mass[b],
                              block_first[b], block_second[b], work[0])
            if with_resp:
                for t in range(n_tile):
                    for k in range(n_components):
                        resp_out[tile_start + t, k] = resp[k, t]
    mass, outer, first, second = _reduce_plan(
        block_mass, block_outer, block_moment_mass, block_first, block_second
    )
    return mass, _sum_in_order(block_lse), outer, first, second


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH, error_model="numpy")
def _assign_pass(X, centre, means, prec_chol, log_det, shift, inv_eps, labels, confidence, n_blocks):
    """Label each row with argmax_k (log_prob + shift) and store max_k of the
    responsibilities softmax((log_prob + shift) * inv_eps) in ``confidence``."""
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    for b in numba.prange(n_blocks):
        start, stop = _block_bounds(b, n_rows, n_blocks)
        rows, tile, resp, work, _, _ = _tile_workspace(n_features, n_components)
        for tile_start in range(start, stop, TILE_ROWS):
            n_tile = min(TILE_ROWS, stop - tile_start)
            _load_rows(X, centre, tile_start, n_tile, rows)
            _log_density_tile(rows, n_tile, means, prec_chol, log_det, tile, work)
            _softmax_tile(tile, n_tile, shift, inv_eps, resp, work)
            for t in range(n_tile):
                best = 0
                for k in range(1, n_components):
                    if resp[k, t] > resp[best, t]:
                        best = k
                labels[tile_start + t] = best
                confidence[tile_start + t] = resp[best, t]


# ------------------------------------------------------------------ small linear algebra
@numba.njit(cache=True)
def precision_cholesky(covariances, prec_chol):
    """Fill ``prec_chol[k]`` with the upper-triangular U of inv(covariances[k]) = U U^T.

    One Cholesky factorisation L L^T = Sigma and one triangular inversion per
    component, U = inv(L)^T. Returns the log-determinants sum(log(diag(U))) and
    the index of the first component that is not positive definite (-1 if none;
    the factors from that one on are then undefined).
    """
    n_components, n_features, _ = covariances.shape
    log_det = np.zeros(n_components)
    lower = np.zeros((n_features, n_features))
    for k in range(n_components):
        lower[:] = 0.0
        for j in range(n_features):
            diagonal = covariances[k, j, j]
            for m in range(j):
                diagonal -= lower[j, m] * lower[j, m]
            if not diagonal > 0.0:
                return log_det, k
            lower[j, j] = math.sqrt(diagonal)
            for i in range(j + 1, n_features):
                value = covariances[k, i, j]
                for m in range(j):
                    value -= lower[i, m] * lower[j, m]
                lower[i, j] = value / lower[j, j]
        # inv(L) is lower triangular; its transpose is U.
        for j in range(n_features):
            prec_chol[k, j, j] = 1.0 / lower[j, j]
            for i in range(j + 1, n_features):
                value = 0.0
                for m in range(j, i):
                    value -= lower[i, m] * prec_chol[k, j, m]
                prec_chol[k, j, i] = value / lower[i, i]
            for i in range(j):
                prec_chol[k, j, i] = 0.0
            log_det[k] += math.log(prec_chol[k, j, j])
    return log_det, -1


# ------------------------------------------------------------------ entry points
def em_pass(X, centre, means, prec_chol, log_det, log_weights):
    """See :func:`_em_pass`; the block count and the thread count are chosen here."""
    with threads_for(pass_work(*X.shape[:1], *means.shape)):
        return _em_pass(X, centre, means, prec_chol, log_det, log_weights, n_blocks_for(X.shape[0]))


def log_prob_pass(X, centre, means, prec_chol, log_det, log_prob):
    """See :func:`_log_prob_pass`."""
    with threads_for(pass_work(*X.shape[:1], *means.shape)):
        _log_prob_pass(X, centre, means, prec_chol, log_det, log_prob, n_blocks_for(X.shape[0]))


def log_prob_plan_pass(X, centre, means, prec_chol, log_det, log_weights, shift, inv_eps,
                       want_outer, log_prob):
    """See :func:`_log_prob_plan_pass`."""
    work = pass_work(*X.shape[:1], *means.shape) + (X.shape[0] * means.shape[0] ** 2 if want_outer else 0)
    with threads_for(work):
        return _log_prob_plan_pass(X, centre, means, prec_chol, log_det, log_weights, shift, inv_eps,
                                   want_outer, log_prob, n_blocks_for(X.shape[0]))


def softmax_pass(log_prob, shift, inv_eps, want_outer, X, centre, resp_out):
    """See :func:`_softmax_pass`."""
    n_components, n_rows = log_prob.shape
    work = n_rows * n_components * (30 + (n_components if want_outer else 0))
    if X.shape[0] > 0:
        work += pass_work(n_rows, n_components, X.shape[1])
    with threads_for(work):
        return _softmax_pass(log_prob, shift, inv_eps, want_outer, X, centre, resp_out,
                             n_blocks_for(n_rows))


def assign_pass(X, centre, means, prec_chol, log_det, shift, inv_eps, labels, confidence):
    """See :func:`_assign_pass`."""
    with threads_for(pass_work(*X.shape[:1], *means.shape)):
        _assign_pass(X, centre, means, prec_chol, log_det, shift, inv_eps, labels, confidence,
                     n_blocks_for(X.shape[0]))


@numba.njit(cache=True)
def solve_positive_definite(matrix, rhs):
    """Solve ``matrix @ x = rhs`` by Cholesky factorisation, on one thread.

    Returns ``(x, True)``, or ``(undefined, False)`` when ``matrix`` is not
    numerically positive definite. For Newton's K x K systems, where a BLAS call
    would start threads that cost more than the solve.
    """
    n = matrix.shape[0]
    lower = np.zeros((n, n))
    x = rhs.copy()
    for j in range(n):
        diagonal = matrix[j, j]
        for m in range(j):
            diagonal -= lower[j, m] * lower[j, m]
        if not diagonal > 0.0:
            return x, False
        lower[j, j] = math.sqrt(diagonal)
        for i in range(j + 1, n):
            value = matrix[i, j]
            for m in range(j):
                value -= lower[i, m] * lower[j, m]
            lower[i, j] = value / lower[j, j]
    for i in range(n):
        for m in range(i):
            x[i] -= lower[i, m] * x[m]
        x[i] /= lower[i, i]
    for i in range(n - 1, -1, -1):
        for m in range(i + 1, n):
            x[i] -= lower[m, i] * x[m]
        x[i] /= lower[i, i]
    return x, True
