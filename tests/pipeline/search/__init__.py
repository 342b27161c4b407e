"""Tests of pipeline.search: the matched-filter search over streams and its shared parts."""
