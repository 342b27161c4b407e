"""The optimal-detector reference on 2-s samples (``pipeline baseline matched-filter``).

=====================  ========================================================================
``config.py``          ``MatchedFilterConfig``: bank, conditioning, coincidence, noise level
``matched_filter.py``  network SNR of every sample: the bank's loudest coincident templates
=====================  ========================================================================
"""
