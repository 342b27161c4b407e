"""Template banks of aligned-spin waveforms, as PyCBC's ``tmpltbank``.

================  =============================================================================
``config.py``     ``BankConfig`` (2-s bank), ``SearchBankConfig`` (stream bank): prior, placement
``placement.py``  prior draws and farthest-point placement, shared by both banks
``snippet.py``    the 2-s bank of the snippet matched filter (``pipeline.baseline``)
``stream.py``     the full-length bank of the matched-filter search (``pipeline.search``)
================  =============================================================================
"""
