"""The network search over streams (``pipeline search``).

==============  ===============================================================================
``config.py``   ``NetworkSearchConfig``: windows, PSD, slides, inference, ranking
``models.py``   ``NetworkModels`` (an ensemble of one image recipe) and slide scoring
``windows.py``  windows, their PSD, and their images (``build-cqt``'s code)
``search.py``   ``NetworkSearch``: a piece's images, scores and triggers, for the search job
==============  ===============================================================================
"""
