"""The FACT monitor as a Hugging Face ``TrainerCallback`` (the ``hf`` extra: ``pip install "fact[hf]"``).

::

    callback = FACTMonitorCallback(input_ids, labels, every=100)  # the Trainer's own loss and lambda
    Trainer(model, args, train_dataset=data, callbacks=[callback]).train()
    print(callback.monitor.summary())

Left to its defaults, the callback computes FACT of the loss the ``Trainer`` minimises for a causal language
model: the next token's cross-entropy averaged over every labelled position (labels shifted by one inside the
model, -100 where no loss is taken; ``fact.features.losses.CausalLMLoss``), of the model's full logits, with
lambda the optimizer's weight decay. ``labels`` are those of the training data (the ``input_ids`` themselves,
where left out). Another objective (a classifier's head, the last position alone) takes its ``loss`` and a
``network`` that returns the tensor that loss is of; the monitor's loss check then compares it with the
Trainer's gradient from the second step on and warns where they differ.

Each step is counted in ``on_optimizer_step``, after the optimizer's step and before the scheduler's
(so at the step's own learning rate), and recorded there when due. The Trainer's default AdamW decays
the matrices by ``args.weight_decay`` and leaves biases and norms out, which have no matrix here; its gradient
clipping (``max_grad_norm``) is undone for the loss check, which reads the gradient's norm before the clip
(hooks on the parameters, during the check's steps only).
The monitor's steps and tau are saved in each checkpoint (``fact_monitor.json``):
``train(resume_from_checkpoint=...)`` goes on with the table at ``path`` and with tau from the step it resumes
at. When training ends, ``monitor.summary()`` is logged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from torch import nn
from transformers import TrainerCallback
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from fact.features.loss_check import NormBeforeClip
from fact.features.losses import CausalLMLoss
from fact.features.monitor import Monitor
from fact.features.monitor_advice import log_summary
from fact.features.monitor_settings import check_callback_options

STATE_FILE = "fact_monitor.json"


class FACTMonitorCallback(TrainerCallback):
    """Monitor FACT of the Trainer's model (or of ``network(model)``) while ``Trainer.train`` trains it.

    ``inputs``, ``targets``, ``loss``, ``weight_decay`` and every keyword are those of
    ``fact.features.monitor.Monitor``, except the defaults: ``loss`` None is the Trainer's causal language model
    loss of ``targets`` (the labels; ``inputs`` where None), ``network`` None the model's logits, and
    ``weight_decay`` None the optimizer's (its decayed group holds the matrices).
    """

    def __init__(
        self,
        inputs,
        targets=None,
        loss=None,
        weight_decay: float | None = None,
        *,
        network: Callable[[nn.Module], nn.Module] | None = None,
        **options,
    ):
        check_callback_options(options)
        if loss is None:
            targets = inputs if targets is None else targets
            loss = CausalLMLoss(targets)
            network = Logits if network is None else network
        self._arguments = (inputs, targets, loss, weight_decay)
        self._network, self._options = network, options
        self.monitor: Monitor | None = None
        self._norm_before_clip: NormBeforeClip | None = None

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        """Create the monitor on the model the Trainer trains (once: a second ``train`` goes on counting); a run
        resumed from a checkpoint goes on at its global step, with the monitor state saved in that checkpoint."""
        if self.monitor is None:
            network = model if self._network is None else self._network(model)
            resumed = state.global_step > 0
            self.monitor = Monitor(network, *self._arguments, resume=resumed, **self._options)
            saved = _state_file(args, state)
            if resumed and saved.exists():
                self.monitor.load_state_dict(json.loads(saved.read_text()))
            elif resumed:
                self.monitor.resume_at(state.global_step)
            self.monitor.clip_norm = args.max_grad_norm  # a clipped step's gradient keeps only its direction

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        """While the loss check is undecided, measure the gradient's norm before the Trainer clips it, so that a
        clipped step is judged by its scale too (one process: elsewhere the norm is of this rank's gradient)."""
        self.monitor.norm_before_clip = None
        if self.monitor.checking_loss and args.max_grad_norm and args.world_size == 1:
            self._norm_before_clip = NormBeforeClip(model.parameters())

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        """The norm the Trainer's clip just scaled down, for the loss check at this step."""
        if self._norm_before_clip is not None:
            self.monitor.norm_before_clip = self._norm_before_clip.finish()
            self._norm_before_clip = None

    def on_optimizer_step(self, args, state, control, optimizer=None, **kwargs):
        """Count the step just taken and record when due."""
        self.monitor.step(optimizer)

    def on_train_end(self, args, state, control, **kwargs):
        """Say, weight by weight, whether training ended at a critical point, and if not what to change."""
        if state.is_world_process_zero and self.monitor is not None:
            log_summary(self.monitor.summary())

    def on_save(self, args, state, control, **kwargs):
        """Save the monitor's steps and tau in the checkpoint just written, for a run resumed from it."""
        if state.is_world_process_zero and self.monitor is not None:
            _state_file(args, state).write_text(json.dumps(self.monitor.state_dict()))


class Logits(nn.Module):
    """A Hugging Face model as the module whose output is the tensor its loss is of: its logits."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, input_ids):
        """The logits of every position."""
        return self.model(input_ids).logits


def _state_file(args, state) -> Path:
    """Where the monitor's state lies in the checkpoint of the Trainer's current global step."""
    return Path(args.output_dir) / f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}" / STATE_FILE
