"""The whole job in one call (``pipeline demo``, ``make demo``).

=============  ================================================================================
``config.py``  ``ChainConfig``: sizes and choices (light, for ``--help``)
``chain.py``   simulate, build the caches, train, predict, matched filter, evaluate
=============  ================================================================================
"""
