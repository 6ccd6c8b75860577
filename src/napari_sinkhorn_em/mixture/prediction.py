"""What a fitted Gaussian mixture predicts: log-densities, posteriors, labels and transport plans."""

import numpy as np
import scipy.special

from . import _kernels
from .._validation import check_epsilon, check_points
from .estep import check_size_prior_strength, solve_sinkhorn, warn_unconverged
from .parameters import FitState

# Rows per block when labelling many points, so memory stays O(block * K).
PREDICT_BLOCK_ROWS = 1 << 18


class FittedMixture:
    """The fitted parameters of a Gaussian mixture and what they predict.

    The base of :class:`~napari_sinkhorn_em.mixture.GaussianMixture`, which fits them;
    it reads the settings ``n_components``, ``covariance_type``, ``epsilon``,
    ``sinkhorn_tol``, ``sinkhorn_max_iter``, ``sinkhorn_solver`` and
    ``size_prior_strength`` of the mixture.
    """

    FITTED_ARRAYS = ("means_", "covariances_", "weights_", "precisions_cholesky_", "precisions_")

    def set_fitted_parameters(self, *, means, covariances, weights, precisions_cholesky, precisions,
                              potentials=None, converged=True, n_iter=0):
        """Make this mixture a fitted one from stored parameters (e.g. read from a model file).

        The arrays are taken as they are (the caller validates them);
        ``column_masses_`` become the weights and ``history_`` is empty.
        Returns the mixture itself.
        """
        means = np.asarray(means, dtype=np.float64)
        self.means_ = means
        self.covariances_ = np.asarray(covariances, dtype=np.float64)
        self.weights_ = np.asarray(weights, dtype=np.float64)
        self.column_masses_ = self.weights_.copy()
        self.precisions_cholesky_ = np.asarray(precisions_cholesky, dtype=np.float64)
        self.precisions_ = np.asarray(precisions, dtype=np.float64)
        self.potentials_ = None if potentials is None else np.asarray(potentials, dtype=np.float64)
        self.converged_ = bool(converged)
        self.n_iter_ = int(n_iter)
        self.history_ = {}
        self.n_features_in_ = means.shape[1]
        return self

    def reorder_components(self, order):
        """Renumber the fitted components in place: new component k is old component ``order[k]``.

        Parameters
        ----------
        order : array-like of int of shape (n_components,)
            A permutation of the component indices.
        """
        order = np.asarray(order)
        for name in self.FITTED_ARRAYS:
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[order]))
        for name in ("potentials_", "column_masses_"):
            if getattr(self, name, None) is not None:
                setattr(self, name, getattr(self, name)[order])

    def _check_fitted(self, X):
        if not hasattr(self, "means_"):
            raise RuntimeError("This GaussianMixture is not fitted yet; call fit(X) first.")
        X = check_points(X)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X has {X.shape[1]} feature(s) but the mixture was fitted on {self.n_features_in_}."
            )
        return X

    def _kernel_parameters(self):
        state = FitState.from_fitted(self, np.zeros(self.n_features_in_))
        prec_chol, log_det = state.precision_cholesky()
        return state.means, prec_chol, log_det

    def estimate_log_prob(self, X):
        """Log-density of each point under each component.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        ndarray of shape (n_points, n_components)
            ``log N(x_i; mu_k, Sigma_k)``, without the weights.
        """
        return self._log_prob_by_component(self._check_fitted(X)).T

    def _log_prob_by_component(self, X):
        """Log-densities of validated ``X``, component-major: shape (n_components, n_points)."""
        means, prec_chol, log_det = self._kernel_parameters()
        log_prob = np.empty((self.n_components, X.shape[0]))
        _kernels.log_prob_pass(X, np.zeros(X.shape[1]), means, prec_chol, log_det, log_prob)
        return log_prob

    def score_samples(self, X):
        """Log-likelihood of each point under the mixture (with ``weights_``).

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        ndarray of shape (n_points,)
        """
        log_prob = self.estimate_log_prob(X) + np.log(self.weights_)
        return scipy.special.logsumexp(log_prob, axis=1)

    def score(self, X, y=None):
        """Mean log-likelihood per point.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
        y : ignored

        Returns
        -------
        float
        """
        return float(np.mean(self.score_samples(X)))

    def predict_proba(self, X):
        """Posterior probability of each component for each point.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        ndarray of shape (n_points, n_components)
            Rows sum to 1; a point impossible under every component gets 1/K each.
        """
        log_prob = self.estimate_log_prob(X) + np.log(self.weights_)
        # A point so far from every component that all its log-densities are -inf gets 1/K each
        # (as in predict_with_confidence), not NaN.
        log_prob[np.isneginf(log_prob).all(axis=1)] = 0.0
        return np.exp(log_prob - scipy.special.logsumexp(log_prob, axis=1, keepdims=True))

    def predict(self, X):
        """Component index (0..K-1) of the highest posterior probability for each point.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        ndarray of int of shape (n_points,)
        """
        return self.predict_with_confidence(X)[0]

    def predict_with_confidence(self, X):
        """Component index of each point and its posterior probability (the confidence).

        Works in blocks of rows, so memory stays small for any number of points.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        labels : ndarray of int of shape (n_points,)
        confidence : ndarray of float32 of shape (n_points,)
        """
        X = self._check_fitted(X)
        return self._assign(X, np.log(self.weights_), 1.0)

    def transport_potentials(self, X, give_up=None):
        """Dual potentials of the transport plan of ``X`` at the fitted parameters.

        The plan gives component k exactly the fraction ``weights_[k]`` of the
        points of ``X`` (Sinkhorn-EM's E-step at ``epsilon``; with a finite
        ``size_prior_strength`` it is the E-step's semi-relaxed plan, whose sizes
        are only pulled towards ``weights_``); its rows are
        ``softmax_k((log N(x_i; mu_k, Sigma_k) + g_k) / epsilon)``.

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
        give_up : tuple (passes, mass_error) or None, default=None
            Stop early once the sizes look out of reach, as for
            :func:`~napari_sinkhorn_em.mixture.solve_sinkhorn`; None solves to ``sinkhorn_tol``
            or ``sinkhorn_max_iter`` passes.

        Returns
        -------
        ndarray of shape (n_components,)
            The potentials g, mean zero.
        """
        return self._transport_potentials(self._check_fitted(X), give_up)

    def _transport_potentials(self, X, give_up=None):
        """:meth:`transport_potentials` of validated ``X``; warns at the caller of the public method."""
        check_epsilon(self.epsilon)
        result = solve_sinkhorn(
            self._log_prob_by_component(X), self.weights_, self.epsilon, potentials=self.potentials_,
            tol=self.sinkhorn_tol, max_passes=self.sinkhorn_max_iter, solver=self.sinkhorn_solver,
            size_prior_strength=check_size_prior_strength(self.size_prior_strength), give_up=give_up,
        )
        if not result.converged:
            warn_unconverged(result, stacklevel=4)
        return result.state.potentials.copy()

    def predict_plan(self, X, potentials=None):
        """Component of each point under the transport plan, which enforces the class sizes.

        Unlike :meth:`predict` (the ordinary posterior, whose class sizes follow
        the data), each component k receives the fraction ``weights_[k]`` of the
        points the plan was solved on (with a finite ``size_prior_strength``: a
        fraction pulled towards it that strongly).

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)
        potentials : array-like of shape (n_components,), optional
            Potentials of a plan solved earlier, e.g. ``transport_potentials(X_train)``:
            new points are then labelled as the training points were, which is how
            an image too big to hold is labelled block by block. None solves the
            plan on ``X`` itself.

        Returns
        -------
        labels : ndarray of int of shape (n_points,)
            Component index (0..K-1) of each point.
        confidence : ndarray of float32 of shape (n_points,)
            The point's share in its component under the plan.
        """
        X = self._check_fitted(X)
        check_epsilon(self.epsilon)
        if potentials is None:
            potentials = self._transport_potentials(X)
        potentials = np.asarray(potentials, dtype=np.float64)
        if potentials.shape != (self.n_components,) or not np.isfinite(potentials).all():
            raise ValueError(
                f"potentials must be {self.n_components} finite numbers, one per component; "
                f"got shape {potentials.shape}."
            )
        return self._assign(X, potentials, 1.0 / self.epsilon)

    def _assign(self, X, shift, inv_eps):
        """argmax_k and max_k of softmax_k((log N + shift) * inv_eps), in blocks of rows."""
        means, prec_chol, log_det = self._kernel_parameters()
        labels = np.empty(X.shape[0], dtype=np.intp)
        confidence = np.empty(X.shape[0], dtype=np.float32)
        zero_centre = np.zeros(X.shape[1])
        for start in range(0, X.shape[0], PREDICT_BLOCK_ROWS):
            stop = min(start + PREDICT_BLOCK_ROWS, X.shape[0])
            _kernels.assign_pass(
                X[start:stop], zero_centre, means, prec_chol, log_det, shift, inv_eps,
                labels[start:stop], confidence[start:stop],
            )
        return labels, confidence

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better).

        Parameters
        ----------
        X : array-like of shape (n_points, n_features)

        Returns
        -------
        float
        """
        X = self._check_fitted(X)
        return -2.0 * self.score(X) * X.shape[0] + self._n_parameters() * np.log(X.shape[0])

    def _n_parameters(self):
        n_features = self.n_features_in_
        covariance_parameters = {
            "full": n_features * (n_features + 1) / 2,
            "diag": n_features,
            "spherical": 1,
        }[self.covariance_type]
        return int(self.n_components * (covariance_parameters + n_features) + self.n_components - 1)
