"""The monitor's callbacks in the real frameworks, training small models on the CPU: PyTorch Lightning's
Trainer and Hugging Face's Trainer. The last recorded rows are checked against fact.features.weights
computed on the weights each framework saved, and tau against the learning rates it used."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from torch import nn

from fact.features.weights import weight_matrices
from tests.support.huggingface import PRIME, LastToken, gpt2, modular_addition

WEIGHT_DECAY = 1e-2


def assert_rows_are_fact_of(table: pd.DataFrame, weights: dict) -> None:
    last = table[table.step == table.step.max()].set_index(["layer", "relation"])
    assert set(last.index.get_level_values("layer")) == set(weights)
    for name, weight in weights.items():
        assert last.loc[(name, "fact")].stationarity_error == pytest.approx(weight.stationarity_error, rel=1e-9)
        for relation in ("fact", "bfact"):
            expected = torch.corrcoef(torch.stack([getattr(weight, relation).flatten(), _target(weight, relation)]))
            # the monitor's FACT products run in the model's float32
            assert last.loc[(name, relation)].pearson == pytest.approx(float(expected[0, 1]), abs=1e-6), name


def _target(weight, relation: str) -> torch.Tensor:
    return (weight.wtw if relation == "fact" else weight.wwt).flatten()


class Regression(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 3))

    def forward(self, x):
        return self.body(x)


def regression_module(pl, optimizers):
    """A LightningModule class training ``Regression`` with the MSE; ``optimizers(module)`` is what its
    ``configure_optimizers`` returns."""

    class Module(pl.LightningModule):
        def __init__(self):
            super().__init__()
            self.network = Regression()

        def training_step(self, batch, batch_idx):
            return nn.functional.mse_loss(self.network(batch[0]), batch[1])

        def configure_optimizers(self):
            return optimizers(self)

    return Module


def test_the_lightning_callback_records_what_the_saved_weights_say(tmp_path, caplog):
    pl = pytest.importorskip("lightning.pytorch")
    from fact.features.monitor_lightning import FACTMonitorCallback

    def optimizers(module):
        optimizer = torch.optim.SGD(module.parameters(), lr=0.05, momentum=0.9, weight_decay=WEIGHT_DECAY)
        schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}

    Module = regression_module(pl, optimizers)

    torch.manual_seed(0)
    X, Y = torch.randn(64, 5), torch.randn(64, 3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=8)
    path = tmp_path / "fact.parquet"

    def trainer(steps: int):
        callback = FACTMonitorCallback(X, Y, "mse", WEIGHT_DECAY, every=3, network=lambda m: m.network, path=path)
        return callback, pl.Trainer(
            max_steps=steps, accumulate_grad_batches=2, accelerator="cpu", callbacks=[callback], logger=False,
            enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
            default_root_dir=tmp_path,
        )  # fmt: skip

    callback, first = trainer(6)
    module = Module()
    with caplog.at_level("INFO", logger="fact.features.monitor"):
        first.fit(module, loader)
    first.save_checkpoint(tmp_path / "end.ckpt")
    # the first step's gradient, counted before the step, was the monitor's loss's; the summary ends training
    assert callback.monitor.loss_check.step == 1 and callback.monitor.loss_check.agrees
    assert "FACT monitor at step 6: 0 of 2 weights at a critical point" in caplog.text

    table = callback.monitor.table
    assert sorted(table.step.unique()) == [3, 6] and callback.monitor.steps == 6  # steps, not batches
    rates = [0.05 * 0.5**step for step in range(6)]  # the rate each step used, before the scheduler moved it
    assert table.tau.max() == pytest.approx(WEIGHT_DECAY / (1 - 0.9) * sum(rates), rel=1e-12)
    saved = Regression()
    state = torch.load(tmp_path / "end.ckpt")["state_dict"]
    saved.load_state_dict({key.removeprefix("network."): value for key, value in state.items()})
    assert_rows_are_fact_of(table, weight_matrices(saved, X, Y, "mse", WEIGHT_DECAY))

    # resumed from the checkpoint: the trainer's global step, tau from the checkpoint, the same table
    callback, second = trainer(9)
    second.fit(Module(), loader, ckpt_path=tmp_path / "end.ckpt")
    table = pd.read_parquet(path)
    assert sorted(table.step.unique()) == [3, 6, 9] and callback.monitor.steps == 9
    rates = [0.05 * 0.5**step for step in range(9)]
    assert table.tau.max() == pytest.approx(WEIGHT_DECAY / (1 - 0.9) * sum(rates), rel=1e-12)


def language_modelling(tokens: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The Trainer's loss is the language model's: the answer after "=" is the one label of each sequence."""
    sequences = torch.cat([tokens, labels[:, None]], dim=1)
    return sequences, torch.cat([torch.full_like(tokens, -100), labels[:, None]], dim=1)


def test_the_lightning_callback_reads_lambda_from_the_optimizer_and_logs_to_the_trainers_loggers(tmp_path):
    pl = pytest.importorskip("lightning.pytorch")
    from lightning.pytorch.loggers import CSVLogger

    from fact.features.monitor_lightning import FACTMonitorCallback

    Module = regression_module(
        pl, lambda module: torch.optim.SGD(module.parameters(), lr=0.05, weight_decay=WEIGHT_DECAY)
    )

    torch.manual_seed(0)
    X, Y = torch.randn(32, 5), torch.randn(32, 3)
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, Y), batch_size=8)
    callback = FACTMonitorCallback(X, Y, "mse", every=2, network=lambda m: m.network)  # no weight_decay
    logger = CSVLogger(tmp_path, name="run", version=0)
    pl.Trainer(
        max_steps=4, accelerator="cpu", callbacks=[callback], logger=logger, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, default_root_dir=tmp_path,
    ).fit(Module(), loader)  # fmt: skip

    assert callback.monitor.weight_decay == WEIGHT_DECAY
    logged = pd.read_csv(tmp_path / "run" / "version_0" / "metrics.csv")
    fact = logged.dropna(subset=["pearson/body.0/fact"])
    expected = callback.monitor.table.query("layer == 'body.0' and relation == 'fact'")
    assert list(fact.step) == [2, 4] == list(expected.step)
    assert list(fact["pearson/body.0/fact"]) == pytest.approx(list(expected.pearson), rel=1e-6)
    assert {"stationarity/body.2", "tau/body.0"} <= set(logged.columns)


def train_gpt2(transformers, model, data, callback, tmp_path, seed):
    """Eight full-batch steps of the Trainer on ``data`` (its 49 sequences): AdamW, linear decay from 1e-2."""
    arguments = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=8, learning_rate=1e-2, weight_decay=WEIGHT_DECAY,
        per_device_train_batch_size=64, lr_scheduler_type="linear", report_to="none", save_strategy="no",
        logging_strategy="no", use_cpu=True, disable_tqdm=True, seed=seed,
    )  # fmt: skip
    trainer = transformers.Trainer(model=model, args=arguments, train_dataset=data, callbacks=[callback])
    trainer.train()
    return trainer


def summed_over_positions(logits: torch.Tensor, sequences: torch.Tensor) -> torch.Tensor:
    """Each sequence's next-token cross-entropies summed over its positions (where the Trainer averages)."""
    tokens = nn.functional.cross_entropy(logits[:, :-1].transpose(1, 2), sequences[:, 1:], reduction="none")
    return tokens.sum(dim=1)


def gpt2_of_four_positions(seed, layers=2):
    """GPT-2 of tests.support.huggingface with room for the sequence a b = c."""
    model = gpt2(seed, layers)
    model.config.n_positions = 4
    model.transformer.wpe = nn.Embedding(4, model.config.n_embd).double()
    return model


def test_the_hugging_face_callback_records_what_the_saved_weights_say(fresh_seed, tmp_path, caplog):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from fact.features.monitor_trainer import FACTMonitorCallback

    tokens, labels = modular_addition()
    data = [{"input_ids": s, "labels": m} for s, m in zip(*language_modelling(tokens, labels))]
    callback = FACTMonitorCallback(tokens, labels, "ce", WEIGHT_DECAY, every=4, network=LastToken)
    with caplog.at_level("INFO", logger="fact.features.monitor"):
        trainer = train_gpt2(transformers, gpt2_of_four_positions(fresh_seed), data, callback, tmp_path, fresh_seed)
    trainer.save_model(tmp_path / "end")
    # the Trainer's loss on the one labelled position is the monitor's; the summary ends training
    assert callback.monitor.loss_check.step == 2 and callback.monitor.loss_check.agrees, callback.monitor.loss_check
    assert "FACT monitor at step 8: 0 of 15 weights at a critical point" in caplog.text and "AdamW" in caplog.text

    table = callback.monitor.table
    assert sorted(table.step.unique()) == [4, 8]
    rates = [1e-2 * (1 - step / 8) for step in range(8)]  # linear decay to 0, no warm-up
    assert table.tau.max() == pytest.approx(WEIGHT_DECAY * sum(rates), rel=1e-9)  # AdamW: lambda sum lr
    saved = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "end", dtype=torch.float64)
    weights = weight_matrices(LastToken(saved), tokens, labels, "ce", WEIGHT_DECAY)
    assert_rows_are_fact_of(table, weights)
    assert len(weights) == 2 * 6 + 3 and PRIME + 1 == saved.config.vocab_size  # 6 matrices a block, wte, wpe, lm_head


def test_the_hugging_face_callback_resumes_from_a_checkpoint_with_its_table_and_tau(fresh_seed, tmp_path):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from fact.features.monitor_trainer import STATE_FILE, FACTMonitorCallback

    tokens, labels = modular_addition()
    data = [{"input_ids": s, "labels": m} for s, m in zip(*language_modelling(tokens, labels))]
    path = tmp_path / "fact.parquet"

    def train(resume_from_checkpoint=None):
        model = gpt2_of_four_positions(fresh_seed, layers=1)
        callback = FACTMonitorCallback(tokens, labels, "ce", WEIGHT_DECAY, every=3, network=LastToken, path=path)
        arguments = transformers.TrainingArguments(
            output_dir=str(tmp_path), max_steps=6, learning_rate=1e-2, weight_decay=WEIGHT_DECAY,
            per_device_train_batch_size=16, lr_scheduler_type="constant", report_to="none", save_strategy="steps",
            save_steps=4, logging_strategy="no", use_cpu=True, disable_tqdm=True, seed=fresh_seed,
        )  # fmt: skip
        trainer = transformers.Trainer(model=model, args=arguments, train_dataset=data, callbacks=[callback])
        trainer.train(resume_from_checkpoint=resume_from_checkpoint)
        return callback

    first = train()  # records at 3 and 6, checkpoints at 4 and 6
    assert (tmp_path / "checkpoint-4" / STATE_FILE).exists()
    resumed = train(resume_from_checkpoint=str(tmp_path / "checkpoint-4"))  # records 6 again
    table = pd.read_parquet(path)
    assert sorted(table.step.unique()) == [3, 6] and resumed.monitor.steps == 6
    assert table.tau.max() == pytest.approx(WEIGHT_DECAY * 1e-2 * 6, rel=1e-9)  # AdamW at a constant rate
    pd.testing.assert_frame_equal(table, first.monitor.table, rtol=1e-6)


def test_the_hugging_face_callback_computes_the_trainers_own_loss_by_default(fresh_seed, tmp_path, caplog):
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")
    from fact.features.losses import CausalLMLoss
    from fact.features.monitor_trainer import FACTMonitorCallback, Logits

    tokens, answers = modular_addition()
    sequences, labels = language_modelling(tokens, answers)
    labels[::2, 1] = sequences[::2, 1]  # every other sample also labels its second position: unequal counts
    data = [{"input_ids": s, "labels": m} for s, m in zip(sequences, labels)]
    callback = FACTMonitorCallback(sequences, labels, every=4)  # the Trainer's loss, lambda from its optimizer
    trainer = train_gpt2(transformers, gpt2_of_four_positions(fresh_seed), data, callback, tmp_path, fresh_seed)
    trainer.save_model(tmp_path / "end")

    check = callback.monitor.loss_check
    assert check.agrees and not check.clipped and 0.67 < check.scale < 1.5, check  # the clip undone
    assert callback.monitor.weight_decay == WEIGHT_DECAY
    saved = transformers.GPT2LMHeadModel.from_pretrained(tmp_path / "end", dtype=torch.float64)
    weights = weight_matrices(Logits(saved), sequences, labels, CausalLMLoss(labels), WEIGHT_DECAY)
    assert_rows_are_fact_of(callback.monitor.table, weights)

    # a monitor summing each sample's positions, while the Trainer averages them: 3 times its loss, a scale of
    # 1/3 that the clipped steps hide unless the clip is undone
    every_position = [{"input_ids": s, "labels": s} for s in sequences]
    mismatched = FACTMonitorCallback(sequences, sequences, summed_over_positions, every=4, network=Logits)
    with caplog.at_level("WARNING", logger="fact.features.monitor"):
        train_gpt2(transformers, gpt2_of_four_positions(fresh_seed), every_position, mismatched, tmp_path, fresh_seed)
    check = mismatched.monitor.loss_check
    assert not check.agrees and not check.clipped and not 0.67 < check.scale < 1.5, check  # judged by its scale
    assert "the monitor's loss is not the one training minimises" in caplog.text
    assert set(mismatched.monitor.summary().table.cause) == {"another loss"}
