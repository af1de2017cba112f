"""The FACT monitor as a Hugging Face ``TrainerCallback`` (the ``hf`` extra: ``pip install "fact[hf]"``).

::

    callback = FACTMonitorCallback(tokens, labels, "ce", weight_decay=args.weight_decay, every=100,
                                   network=lambda model: LastToken(model))
    Trainer(model, args, train_dataset=data, callbacks=[callback]).train()
    callback.monitor.table  # the rows of fact.features.monitor.Monitor

Each step is counted in ``on_optimizer_step``, after the optimizer's step and before the scheduler's
(so at the step's own learning rate), and recorded there when due. The Trainer's default AdamW decays
the matrices by ``args.weight_decay`` and leaves biases and norms out, which have no matrix here.
A Hugging Face model returns a ``ModelOutput``: ``network`` gives the module whose output is the tensor
the loss is of (e.g. the last position's logits).
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn
from transformers import TrainerCallback

from fact.features.monitor import Monitor


class FACTMonitorCallback(TrainerCallback):
    """Monitor FACT of the Trainer's model (or of ``network(model)``) while ``Trainer.train`` trains it.

    ``inputs``, ``targets``, ``loss``, ``weight_decay`` and every keyword are those of
    ``fact.features.monitor.Monitor``.
    """

    def __init__(
        self,
        inputs,
        targets=None,
        loss="ce",
        weight_decay: float = 0.0,
        *,
        network: Callable[[nn.Module], nn.Module] | None = None,
        **options,
    ):
        self._arguments = (inputs, targets, loss, weight_decay)
        self._network, self._options = network, options
        self.monitor: Monitor | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        """Create the monitor on the model the Trainer trains (once: resuming goes on counting)."""
        if self.monitor is None:
            network = model if self._network is None else self._network(model)
            self.monitor = Monitor(network, *self._arguments, **self._options)

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        """Count the step just taken and record when due."""
        self.monitor.step(optimizer)
