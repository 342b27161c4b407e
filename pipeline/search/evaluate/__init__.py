"""Searches scored as MLGWSC-1 scores them (``pipeline evaluate-search``).

==============  ===============================================================================
``config.py``   ``EvaluateSearchConfig``: FARs, distance prior, durations for bare files
``volume.py``   FAR, injections found, sensitive volume and distance with errors
``report.py``   searches side by side: checks, tables, curves
``plots.py``    distance against FAR, found and missed injections
==============  ===============================================================================
"""
