"""Scoring backends: something that turns token ids into label log-probabilities."""
