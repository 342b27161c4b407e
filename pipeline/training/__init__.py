"""Training a classifier on one fold of a cache (``pipeline train``).

===================  ==========================================================================
``config.py``        ``TrainConfig``, ``AugmentConfig``: the recipe, and what a resume may change
``loop.py``          ``fit``: epochs of training and validation, checkpoints, early stopping
``data.py``          stratified folds of a cache, its loaders, in memory when it fits
``augment.py``       batch augmentations on the device (LIGO swap, time shift, masks)
``optimisation.py``  AdamW and timm's cosine schedule with warm-up
``distributed.py``   torchrun: process groups, barriers, gathers
``metrics_log.py``   ``metrics.csv`` and TensorBoard, one row per epoch
===================  ==========================================================================
"""
