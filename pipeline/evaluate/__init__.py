"""Scoring predictions of 2-s samples (``pipeline evaluate``).

===============  ==============================================================================
``config.py``    ``EvaluateConfig``: FPRs, SNR bins, confidence
``metrics.py``   ROC AUC, TPR at fixed FPR, efficiency against SNR, per noise condition
``auc_stats.py`` standard errors and paired bootstrap differences of AUCs
``plots.py``     ROC and efficiency curves
===============  ==============================================================================
"""
