"""Datasets: synthetic tasks now; fetched real datasets as the pipeline grows."""
