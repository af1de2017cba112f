"""One function per figure or table of the paper; each reads results/ only, never a model.

Nothing is imported here, so that a figure's job depends on its own plotting module only
(``fact.experiments.stages.figure`` imports the one it is asked for).
"""
