"""The FACT monitor as a PyTorch Lightning callback (the ``lightning`` extra: ``pip install "fact[lightning]"``).

::

    trainer = lightning.pytorch.Trainer(callbacks=[FACTMonitorCallback(X, Y, "ce", every=100)])
    trainer.fit(module, loader)
    callback.monitor.table  # the rows of fact.features.monitor.Monitor

Each optimizer step is counted just before it is taken (``on_before_optimizer_step``), where its learning
rate is the one it uses (Lightning steps a per-step scheduler before ``on_train_batch_end``); the rows are
recorded after the batch. With gradient accumulation a step is counted once, as the optimizer takes it.
When training ends, ``monitor.summary()`` is logged: whether each weight is at a critical point, and if not
what its numbers point to.
The monitor's steps and tau are saved in Lightning's checkpoints: ``fit(ckpt_path=...)`` goes on with the
table at ``path`` and with tau from the step it resumes at.
"""

from __future__ import annotations

from collections.abc import Callable

import lightning.pytorch as pl
from torch import nn

from fact.features.monitor import Monitor
from fact.features.monitor_advice import log_summary
from fact.features.monitor_settings import check_callback_options
from fact.features.monitor_table import scalars


class FACTMonitorCallback(pl.Callback):
    """Monitor FACT of the LightningModule (or of ``network(module)``) while ``Trainer.fit`` trains it.

    ``inputs``, ``targets``, ``loss``, ``weight_decay`` and every keyword are those of
    ``fact.features.monitor.Monitor`` (``weight_decay`` None: read from the optimizer's groups); ``network``
    picks the ``nn.Module`` to follow when the LightningModule's own forward is not the model's (e.g.
    ``lambda module: module.model``). Each record's correlations, stationarity errors and tau also go to the
    trainer's loggers (``trainer.loggers``), at the trainer's global step.
    """

    def __init__(
        self,
        inputs,
        targets=None,
        loss="mse",
        weight_decay: float | None = None,
        *,
        network: Callable[[pl.LightningModule], nn.Module] | None = None,
        **options,
    ):
        super().__init__()
        check_callback_options(options)
        self._arguments = (inputs, targets, loss, weight_decay)
        self._network, self._options = network, options
        self.monitor: Monitor | None = None
        self._saved: dict = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Create the monitor once the module is on its device (a second ``fit`` goes on counting); a run
        resumed from a checkpoint goes on at the trainer's global step, with the state saved in it."""
        if self.monitor is None:
            network = pl_module if self._network is None else self._network(pl_module)
            resumed = trainer.global_step > 0
            self.monitor = Monitor(network, *self._arguments, resume=resumed, **self._options)
            if resumed and self._saved:
                self.monitor.load_state_dict(self._saved)
            elif resumed:
                self.monitor.resume_at(trainer.global_step)

    def state_dict(self) -> dict:
        """The monitor's steps and tau, saved in Lightning's checkpoints."""
        return {} if self.monitor is None else self.monitor.state_dict()

    def load_state_dict(self, state_dict: dict) -> None:
        """Keep a checkpoint's monitor state for the monitor made when training starts."""
        self._saved = state_dict

    def on_before_optimizer_step(self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer) -> None:
        """Count the step about to be taken, at its own learning rate."""
        self.monitor.count(optimizer, before_step=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Say, weight by weight, whether training ended at a critical point, and if not what to change."""
        if self.monitor is not None and trainer.is_global_zero:
            log_summary(self.monitor.summary())

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        """Record when a multiple of ``every`` steps has been taken, and log the record to the trainer's loggers."""
        rows = self.monitor.record_if_due()
        if rows is not None and len(rows):
            metrics = scalars(rows.to_dict("records"))
            for logger in trainer.loggers:
                logger.log_metrics(metrics, step=trainer.global_step)
