"""What only the paper's pipeline needs: models, training, data, stages, plots and the scorecard.

Imports nothing here, so that the pipeline's rules can read ``provenance``, ``data.manifest`` and
``scorecard.places`` (standard library only) without loading torch.

``models``          the model families: MLPs, deep linear and quadratic nets, a CNN, a transformer
``training``        resumable minibatch SGD with tau and the end-of-training stationarity
``full_batch``      full-batch Adam, L-BFGS and Newton to an exact critical point
``decay_runs``      the decay runs: full-batch Adam-L2 against AdamW (Figures 12 and 13)
``decay_run_training``  what the decay runs' training stages share: train, keep the chosen steps, save
``polish``          L-BFGS in float64 after SGD, until every weight is stationary
``convergence``     FACT's agreement against stationarity over every run (Figure 14)
``table1_protocol`` the Table 1 protocol on one dataset
``sizes``           which MLP sizes a machine can train
``io``, ``provenance``  writing results atomically, and which code and settings made them
``experiment_table``, ``scales``  the experiments that train networks, one row each; each scale's settings
``jobs``, ``job_settings``  what every stage's job does (command line, log, failure, device); its settings JSON
``checkpoints``     trained networks read back, checked, with the objective they were trained on
``rfm_fit``         an RFM fitted from an experiment's settings, scored at every iteration
``data``, ``stages``, ``plots``, ``scorecard``  datasets, the pipeline's entry points, figures, claims
"""
