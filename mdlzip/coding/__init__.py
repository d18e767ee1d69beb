"""Entropy coding: the data stream and the weights, both with constriction's range coder."""
