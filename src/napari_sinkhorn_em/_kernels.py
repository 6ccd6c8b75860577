"""numba kernels for the Gaussian mixture: one pass over the points each.

Every kernel splits the rows into a fixed number of contiguous blocks that depends
only on the number of rows, runs the blocks in parallel with per-block
accumulators, and reduces the accumulators in block order afterwards. The result
is therefore bit-identical whatever the number of threads.

Conventions shared by all kernels:

- ``X`` is (n, d) float32 or float64; ``centre`` (d,) is subtracted from every
  row before use (it keeps the second moments well conditioned); ``means`` (K, d)
  are given relative to ``centre``.
- ``prec_chol`` (K, d, d) is the upper-triangular Cholesky factor U of each
  precision matrix (precision = U U^T), ``log_det`` (K,) is sum(log(diag(U))).
  Diagonal and spherical models pass diagonal U.
- ``log_prob`` (n, K) holds log N(x_i; mu_k, Sigma_k).
- Responsibilities are ``softmax_k((log_prob[i, k] + shift[k]) * inv_eps)``:
  EM uses ``shift = log(weights)``, ``inv_eps = 1``; Sinkhorn-EM uses the dual
  potentials and ``1 / epsilon``.
"""

import math

import numba
import numpy as np

# Log-domain code meets -inf, so no "ninf"/"nnan" flags (that is what fastmath=True implies).
SAFE_FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
LOG_2PI = math.log(2.0 * math.pi)
MAX_BLOCKS = 256
MIN_BLOCK_ROWS = 1024


def n_blocks_for(n_rows):
    """Number of row blocks used for ``n_rows`` rows (a function of ``n_rows`` only)."""
    return max(1, min(MAX_BLOCKS, -(-n_rows // MIN_BLOCK_ROWS)))


@numba.njit(cache=True, fastmath=SAFE_FASTMATH)
def _log_prob_row(x, centre, means, prec_chol, log_det, diff, out):
    n_components, n_features = means.shape
    for k in range(n_components):
        for i in range(n_features):
            diff[i] = (x[i] - centre[i]) - means[k, i]
        squared = 0.0
        for j in range(n_features):
            projected = 0.0
            for i in range(j + 1):
                projected += diff[i] * prec_chol[k, i, j]
            squared += projected * projected
        out[k] = log_det[k] - 0.5 * (n_features * LOG_2PI + squared)


@numba.njit(cache=True, fastmath=SAFE_FASTMATH)
def _softmax_row(log_prob_row, shift, inv_eps, out):
    """Write softmax((log_prob_row + shift) * inv_eps) into ``out``; return its log normaliser.

    A row that is -inf everywhere (a point beyond float range of every component) gets
    the uniform row 1/K, not NaN; its log normaliser is -inf.
    """
    largest = -np.inf
    for k in range(log_prob_row.shape[0]):
        z = (log_prob_row[k] + shift[k]) * inv_eps
        out[k] = z
        if z > largest:
            largest = z
    if largest == -np.inf:
        for k in range(log_prob_row.shape[0]):
            out[k] = 1.0 / log_prob_row.shape[0]
        return largest
    total = 0.0
    for k in range(log_prob_row.shape[0]):
        out[k] = math.exp(out[k] - largest)
        total += out[k]
    for k in range(log_prob_row.shape[0]):
        out[k] /= total
    return largest + math.log(total)


@numba.njit(cache=True, fastmath=SAFE_FASTMATH)
def _accumulate_moments(x, centre, resp_row, diff, mass, first, second):
    n_features = x.shape[0]
    for i in range(n_features):
        diff[i] = x[i] - centre[i]
    for k in range(resp_row.shape[0]):
        r = resp_row[k]
        if r == 0.0:
            continue
        mass[k] += r
        for i in range(n_features):
            weighted = r * diff[i]
            first[k, i] += weighted
            for j in range(i, n_features):
                second[k, i, j] += weighted * diff[j]


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


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH)
def em_pass(X, centre, means, prec_chol, log_det, log_weights, n_blocks):
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
        start = b * n_rows // n_blocks
        stop = (b + 1) * n_rows // n_blocks
        diff = np.empty(n_features)
        log_prob_row = np.empty(n_components)
        resp_row = np.empty(n_components)
        for row in range(start, stop):
            _log_prob_row(X[row], centre, means, prec_chol, log_det, diff, log_prob_row)
            block_loglik[b] += _softmax_row(log_prob_row, log_weights, 1.0, resp_row)
            _accumulate_moments(
                X[row], centre, resp_row, diff, block_mass[b], block_first[b], block_second[b]
            )
    mass, first, second = _reduce_moments(block_mass, block_first, block_second)
    return block_loglik.sum(), mass, first, second


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH)
def log_prob_pass(X, centre, means, prec_chol, log_det, log_prob, n_blocks):
    """Fill ``log_prob`` (n, K) with the log-density of every row under every component."""
    n_rows, n_features = X.shape
    for b in numba.prange(n_blocks):
        start = b * n_rows // n_blocks
        stop = (b + 1) * n_rows // n_blocks
        diff = np.empty(n_features)
        for row in range(start, stop):
            _log_prob_row(X[row], centre, means, prec_chol, log_det, diff, log_prob[row])


@numba.njit(cache=True, fastmath=SAFE_FASTMATH)
def _accumulate_plan_row(x, centre, resp_row, diff, mass, want_outer, outer, with_moments,
                         moment_mass, first, second):
    n_components = resp_row.shape[0]
    for k in range(n_components):
        mass[k] += resp_row[k]
    if want_outer:
        for k in range(n_components):
            rk = resp_row[k]
            for j in range(k, n_components):
                outer[k, j] += rk * resp_row[j]
    if with_moments:
        _accumulate_moments(x, centre, resp_row, diff, moment_mass, first, second)


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


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH)
def log_prob_plan_pass(X, centre, means, prec_chol, log_det, log_weights, shift, inv_eps,
                       want_outer, log_prob, n_blocks):
    """Fill ``log_prob`` and, in the same pass, evaluate the plan at potentials ``shift``.

    Returns the summed log-likelihood with ``log_weights``, the column sums of the
    ordinary posterior, and what :func:`softmax_pass` returns for the plan
    (column sums, summed log-normalisers, outer products if wanted, M-step moments).
    Sinkhorn-EM's E-step often converges on this first evaluation, which then costs
    a single pass over the points.
    """
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    outer_size = n_components if want_outer else 0
    block_loglik = np.zeros(n_blocks)
    block_posterior = np.zeros((n_blocks, n_components))
    block_lse = np.zeros(n_blocks)
    block_mass = np.zeros((n_blocks, n_components))
    block_outer = np.zeros((n_blocks, outer_size, outer_size))
    block_moment_mass = np.zeros((n_blocks, n_components))
    block_first = np.zeros((n_blocks, n_components, n_features))
    block_second = np.zeros((n_blocks, n_components, n_features, n_features))
    for b in numba.prange(n_blocks):
        start = b * n_rows // n_blocks
        stop = (b + 1) * n_rows // n_blocks
        diff = np.empty(n_features)
        resp_row = np.empty(n_components)
        for row in range(start, stop):
            _log_prob_row(X[row], centre, means, prec_chol, log_det, diff, log_prob[row])
            block_loglik[b] += _softmax_row(log_prob[row], log_weights, 1.0, resp_row)
            for k in range(n_components):
                block_posterior[b, k] += resp_row[k]
            block_lse[b] += _softmax_row(log_prob[row], shift, inv_eps, resp_row)
            _accumulate_plan_row(
                X[row], centre, resp_row, diff, block_mass[b], want_outer, block_outer[b], True,
                block_moment_mass[b], block_first[b], block_second[b],
            )
    posterior_mass = np.zeros(n_components)
    for b in range(n_blocks):
        posterior_mass += block_posterior[b]
    mass, outer, first, second = _reduce_plan(
        block_mass, block_outer, block_moment_mass, block_first, block_second
    )
    return block_loglik.sum(), posterior_mass, mass, block_lse.sum(), outer, first, second


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH)
def softmax_pass(log_prob, shift, inv_eps, want_outer, X, centre, resp_out, n_blocks):
    """One pass of r_i = softmax((log_prob_i + shift) * inv_eps) over stored log-densities.

    Always returns the column sums of r and the summed row log-normalisers.
    With ``want_outer`` it also returns sum_i r_i r_i^T (for Newton's method on the
    dual); with a non-empty ``X`` the M-step moments of r; with a non-empty
    ``resp_out`` it writes r there. Empty (0-row) arrays switch those parts off.
    """
    n_rows, n_components = log_prob.shape
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
        start = b * n_rows // n_blocks
        stop = (b + 1) * n_rows // n_blocks
        diff = np.empty(n_features)
        resp_row = np.empty(n_components)
        for row in range(start, stop):
            block_lse[b] += _softmax_row(log_prob[row], shift, inv_eps, resp_row)
            if with_moments:
                _accumulate_plan_row(
                    X[row], centre, resp_row, diff, block_mass[b], want_outer, block_outer[b],
                    True, block_moment_mass[b], block_first[b], block_second[b],
                )
            else:
                _accumulate_plan_row(
                    diff, centre, resp_row, diff, block_mass[b], want_outer, block_outer[b],
                    False, block_moment_mass[b], block_first[b], block_second[b],
                )
            if with_resp:
                for k in range(n_components):
                    resp_out[row, k] = resp_row[k]
    mass, outer, first, second = _reduce_plan(
        block_mass, block_outer, block_moment_mass, block_first, block_second
    )
    return mass, block_lse.sum(), outer, first, second


@numba.njit(cache=True, parallel=True, fastmath=SAFE_FASTMATH)
def assign_pass(X, centre, means, prec_chol, log_det, shift, inv_eps, labels, confidence, n_blocks):
    """Label each row with argmax_k (log_prob + shift) and store max_k of the
    responsibilities softmax((log_prob + shift) * inv_eps) in ``confidence``."""
    n_rows, n_features = X.shape
    n_components = means.shape[0]
    for b in numba.prange(n_blocks):
        start = b * n_rows // n_blocks
        stop = (b + 1) * n_rows // n_blocks
        diff = np.empty(n_features)
        log_prob_row = np.empty(n_components)
        resp_row = np.empty(n_components)
        for row in range(start, stop):
            _log_prob_row(X[row], centre, means, prec_chol, log_det, diff, log_prob_row)
            _softmax_row(log_prob_row, shift, inv_eps, resp_row)
            best = 0
            for k in range(1, n_components):
                if resp_row[k] > resp_row[best]:
                    best = k
            labels[row] = best
            confidence[row] = resp_row[best]
