"""A trained classifier: its checkpoint, the precision it runs in, and its predictions.

==================  ===========================================================================
``checkpoint.py``   the checkpoint format: save, validated load, rebuild, the image recipe it
                    carries and the caches it accepts
``precision.py``    autocast and memory format for training and inference; float32 heads
``predict.py``      a cache's probabilities from one or more checkpoints (``pipeline predict``)
``config.py``       ``PredictConfig``: how checkpoints are run and combined
==================  ===========================================================================
"""
