"""Judging a model: regression metrics, the straight-line baselines, and verdicts as data.

NumPy only, never Keras.
"""
