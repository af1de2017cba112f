"""Recursive Feature Machines with the NFA or the FACT update, and what they are built from.

Modules, one job each:

``kernels``         the kernels and their gradient-weight blocks
``ridge``           the kernel ridge solve and its memory policy
``kernel_matrices`` the kernel AGOP and FACT of a fitted predictor
``updates``         the NFA and FACT updates of the feature matrix M, and its normalisations
``rfm_checks``      what an RFM's parameters may be, checked before any work
``rfm_inputs``      its data checked on the way in, and the held-out part that chooses the iteration
``rfm_tasks``       class labels, two labels or real values: targets, labels, metrics, selection
``rfm_advice``      what to change when the kernel or an update gives nothing usable
``devices``         the device it computes on, and its tensors moved there
``rfm``             the estimator ``RFM``, for class labels, two labels or real values
``sklearn_estimators``  ``RFMClassifier`` and ``RFMRegressor``: the RFM as scikit-learn's classifier and regressor
"""
