"""The reproduction scorecard: which of the paper's claims our results confirm, at which scale.

``results`` reads the result files, ``claims`` holds each claim with the rule that judges it,
``context`` describes the data and settings behind a row, ``card`` lays the rows out.
"""
