"""Backend-agnostic array kernels: no xarray, no files, no store.

Modules: ``folds`` (reverse_pred's K folds), ``splits`` (split halves of the repeat axis),
``stats`` (Pearson, Spearman, ranks, Kendall's tau-a), ``ridge`` / ``ridge_designs`` (out-of-fold
ridge with shared factorisations), ``regressors`` (every regressor choice), ``gram`` (Gram
statistics over unit chunks, CKA, effective dimensionality), ``gram_rows`` (the row-centred and
uncentred Grams, and the row pass that keeps their digits), ``rdm`` (RDMs), ``compare`` (RDM
comparisons), ``shape`` (generalized shape metrics). Per-backend fast paths live in
:mod:`neuroxr.backend`.
"""
