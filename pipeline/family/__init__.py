"""The ResNet family in one stop: train, compare and ensemble models on one cache.

===============  ==============================================================================
``config.py``    ``FamilyConfig``: members, folds, the shared recipe, what to score them on
``run.py``       ``run_family``: each member trained, measured and scored, resumably
``report.py``    the comparison table, ensembles and their paired-bootstrap differences
``stacking.py``  the stacked ensemble: a logistic regression on the members' logits
``costs.py``     parameters, multiply-adds, images per second, peak memory
``plots.py``     AUC against depth and against cost
===============  ==============================================================================
"""
