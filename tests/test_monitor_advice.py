"""The monitor's summary names, weight by weight, what holds a network off a critical point: each cause shown on a
small model trained into it, with what the summary says to change, and the loss check on the losses people use."""

from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

import fact
from fact.features import loss_check
from fact.features.monitor import Monitor

LAMBDA = 0.02


def data():
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(256, 10, generator=generator)
    return X, torch.tanh(X[:, :3] @ torch.randn(3, 2, generator=generator))


def trained(
    optimizer, steps, *, batch=32, schedule=None, training_loss=nn.functional.mse_loss, monitor_lambda=LAMBDA, **kw
):
    """A small tanh network trained by ``optimizer(parameters)`` for ``steps`` steps of ``batch`` samples (None:
    all), the learning rate scheduled by ``schedule(optimizer, steps)``, monitored at the end on every sample."""
    X, Y = data()
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 2))
    opt = optimizer(model.parameters())
    scheduler = schedule(opt, steps) if schedule else None
    monitor = Monitor(model, X, Y, "mse", weight_decay=monitor_lambda, every=steps, **kw)
    generator = torch.Generator().manual_seed(2)
    for _ in range(steps):
        rows = torch.randint(0, len(X), (batch,), generator=generator) if batch else slice(None)
        opt.zero_grad()
        training_loss(model(X[rows]), Y[rows]).backward()
        opt.step()
        monitor.step(opt)
        if scheduler:
            scheduler.step()
    return model, monitor


def sgd(lr=0.1, weight_decay=LAMBDA):
    return lambda parameters: torch.optim.SGD(parameters, lr=lr, momentum=0.9, weight_decay=weight_decay)


def cosine(optimizer, steps):
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)


def dropped(optimizer, steps):
    """The rate cut to 0.3 of itself for the last fifth: lowered, not annealed to 0."""
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, [int(0.8 * steps)], gamma=0.3)


def words(summary) -> str:
    """The summary's text with its line breaks and alignment undone."""
    return " ".join(str(summary).split())


def causes(monitor) -> set[str]:
    return set(monitor.summary().table.cause)


def test_too_little_tau_says_the_tau_reached_and_the_tau_needed():
    _, monitor = trained(sgd(lr=0.05), 100, schedule=cosine)
    summary = monitor.summary()
    assert causes(monitor) == {"tau too small"} and not summary.at_critical_point
    tau = summary.table.tau.iloc[0]
    assert 0.4 < tau < 0.6 and f"tau = {tau:.3g}" in words(summary) and "about 2 was needed" in words(summary)
    assert "train longer, or raise lambda" in words(summary)


def test_adamw_is_named_and_sgd_or_adam_l2_offered_instead():
    _, monitor = trained(lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=LAMBDA), 300, schedule=cosine)
    assert causes(monitor) == {"AdamW"}
    assert "train with SGD, or Adam with weight_decay (L2)" in words(monitor.summary())


def test_a_learning_rate_left_at_its_peak_is_named():
    _, monitor = trained(sgd(lr=0.1, weight_decay=0.05), 100, monitor_lambda=0.05)
    summary = monitor.summary()
    assert summary.table.tau.min() >= 2 and causes(monitor) == {"learning rate not annealed"}
    assert "the learning rate is still 0.1 (peak 0.1)" in words(summary)


def test_another_weight_decay_in_the_optimizer_is_named():
    _, monitor = trained(sgd(lr=0.05), 50, schedule=cosine, monitor_lambda=LAMBDA / 10)
    assert causes(monitor) == {"another weight decay"}
    assert "decays it with 0.02, not the monitor's lambda 0.002" in words(monitor.summary())


def test_a_close_network_is_sent_to_the_polish_which_brings_it_to_a_critical_point():
    model, monitor = trained(sgd(), 200, schedule=dropped)
    summary = monitor.summary()
    assert summary.table.tau.min() >= 2 and causes(monitor) == {"close"}, summary
    assert "fact.polish_lbfgs(" in words(summary)
    X, Y = data()
    result = fact.polish_lbfgs(model, X, Y, "mse", LAMBDA, converged_below=0.2, max_steps=200)
    assert max(result["stationarity"].values()) <= 0.2
    monitor.record()  # again, at the same step: the summary reads this last record
    after = monitor.summary()
    assert after.at_critical_point and len(after.table) == 2 and after.table.fact_pearson.min() > 0.99
    assert "2 of 2 weights at a critical point" in words(after)


def test_a_full_batch_run_with_enough_tau_is_at_a_critical_point_and_fact_holds():
    _, monitor = trained(sgd(lr=0.1, weight_decay=0.05), 100, batch=None, schedule=cosine, monitor_lambda=0.05)
    summary = monitor.summary()
    assert summary.at_critical_point and causes(monitor) == {"at a critical point"}
    assert summary.table.fact_pearson.min() > 0.99 and summary.loss_check.agrees
    assert summary.loss_check.cosine > 0.999 and abs(summary.loss_check.scale - 1) < 1e-3


def summed_over_outputs(outputs, targets):
    return ((outputs - targets) ** 2).sum(1).mean()


@pytest.mark.parametrize(
    "training_loss, scale",
    [
        (summed_over_outputs, (1.5, 2.5)),  # the "sum over outputs" convention, on 2 outputs: 2 up to noise
        (lambda outputs, targets: nn.functional.mse_loss(outputs, targets, reduction="sum"), (30, 100)),  # 64
        (nn.functional.l1_loss, None),  # another loss altogether
    ],
)
def test_a_loss_that_is_not_the_monitors_is_caught_from_the_second_step(training_loss, scale, caplog):
    with caplog.at_level(logging.WARNING, logger="fact.features.monitor"):
        _, monitor = trained(sgd(lr=0.01), 20, schedule=cosine, training_loss=training_loss)
    check = monitor.loss_check
    assert check.step == 2 and check.steps == loss_check.CHECK_STEPS  # summed over steps 2-5 before it is reported
    assert not check.agrees and causes(monitor) == {"another loss"} and "over steps 2-5" in check.describe()
    if scale is not None:
        assert scale[0] < check.scale < scale[1]
    assert "the monitor's loss is not the one training minimises" in caplog.text
    assert "DISAGREES" in words(monitor.summary())


def test_the_same_loss_on_batches_agrees_and_l2_added_to_the_loss_counts_as_the_decay():
    _, monitor = trained(sgd(lr=0.05), 20, schedule=cosine)
    assert monitor.loss_check.agrees and not monitor.loss_check.with_decay

    def with_l2(model_parameters):
        def loss(outputs, targets):
            return nn.functional.mse_loss(outputs, targets) + LAMBDA / 2 * sum((p**2).sum() for p in model_parameters)

        return loss

    X, Y = data()
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)  # no weight decay: it is in the loss
    monitor = Monitor(model, X, Y, "mse", weight_decay=LAMBDA, every=10)
    loss = with_l2(list(model.parameters()))
    for _ in range(10):
        optimizer.zero_grad()
        loss(model(X), Y).backward()
        optimizer.step()
        monitor.step(optimizer)
    assert monitor.loss_check.agrees  # lambda W is small beside the loss gradient at first: either reading agrees
    summary = words(monitor.summary())
    assert "where the training loss adds (lambda/2)||theta||^2 itself, this is the objective" in summary
    # later in training lambda W is much of the gradient: a loss holding it is told from one that does not
    generator = torch.Generator().manual_seed(3)
    weights = [torch.randn(32, 10, generator=generator), torch.randn(2, 32, generator=generator)]
    means = [1e-3 * torch.randn(w.shape, generator=generator) for w in weights]  # the monitor's mean-loss gradient
    decayed = loss_check.compare(3, [m + LAMBDA * w for m, w in zip(means, weights)], means, weights, LAMBDA)
    assert decayed.agrees and decayed.with_decay and "lambda W included" in decayed.describe()


def test_a_noisy_batch_is_not_called_another_loss_its_next_steps_are_summed_with_it():
    """One step whose batch noise is 1.9 times the mean gradient, across it, points 62 degrees from it (cosine
    0.47); two such steps, their noise in other directions, point within 54 degrees: the same loss. A loss that
    differs stays apart, and is reported after CHECK_STEPS steps."""
    mean, noise = torch.eye(6)[0], 1.9 * torch.eye(6)[1:]
    first = loss_check.compare(2, [mean + noise[0]], [mean], [torch.zeros(6)], LAMBDA)
    assert 0.46 < first.cosine < 0.47 and not first.agrees
    sums = loss_check.Sums()
    assert sums.add(2, [mean + noise[0]], [mean], [torch.zeros(6)], LAMBDA, clipped=False) is None
    check = sums.add(3, [mean + noise[1]], [mean], [torch.zeros(6)], LAMBDA, clipped=False)
    assert check.agrees and (check.step, check.steps) == (2, 2) and abs(check.scale - 1) < 1e-12
    other = loss_check.Sums()
    judged = [other.add(step, [noise[step - 2]], [mean], [torch.zeros(6)], LAMBDA, False) for step in range(2, 6)]
    assert judged[:3] == [None] * 3 and not judged[3].agrees and judged[3].steps == loss_check.CHECK_STEPS


def test_a_clipped_step_is_judged_by_its_direction_alone():
    X, Y = data()
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 2))
    optimizer = sgd(lr=0.01)(model.parameters())
    monitor = Monitor(model, X, Y, "mse", weight_decay=LAMBDA, every=5)
    monitor.clip_norm = 1e-3
    for _ in range(5):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X), Y).backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        optimizer.step()
        monitor.step(optimizer)
    check = monitor.loss_check
    assert check.clipped and check.scale < 0.1 and check.agrees and "scale not judged" in check.describe()


def test_a_clipped_step_whose_norm_before_the_clip_was_read_is_judged_by_its_scale_too():
    X, Y = data()
    model = nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 2)).double()
    optimizer = sgd(lr=0.01)(model.parameters())
    monitor = Monitor(model, X.double(), Y.double(), "mse", weight_decay=LAMBDA, every=5)
    monitor.clip_norm = 1e-3
    for _ in range(5):
        optimizer.zero_grad()
        norm = loss_check.NormBeforeClip(model.parameters())
        summed_over_outputs(model(X.double()), Y.double()).backward()  # 2 outputs summed: the scale is 2
        unclipped = [p.grad.clone() for p in model.parameters()]
        nn.utils.clip_grad_norm_(model.parameters(), 1e-3)
        monitor.norm_before_clip = norm.finish()
        assert monitor.norm_before_clip == pytest.approx(float(torch.cat([g.flatten() for g in unclipped]).norm()))
        optimizer.step()
        monitor.step(optimizer)
    check = monitor.loss_check
    assert not check.clipped and check.scale == pytest.approx(2, rel=1e-6) and not check.agrees, check
    _, clipped = loss_check.training_gradients(list(model.parameters()), list(model.parameters()), 1e-3, 0.5e-3)
    assert clipped, "a norm below the clip's bound is not of this clip: direction only"


def test_the_check_can_be_turned_off_and_a_summary_before_any_record_says_so():
    _, monitor = trained(sgd(lr=0.05), 10, schedule=cosine, training_loss=summed_over_outputs, check_loss=False)
    assert monitor.loss_check is None and "the loss check: not made" in words(monitor.summary())
    X, Y = data()
    empty = Monitor(nn.Linear(10, 2), X, Y, "mse", weight_decay=LAMBDA)
    assert "nothing recorded yet" in str(empty.summary()) and not empty.summary().at_critical_point
    with pytest.raises(ValueError, match="converged_below must be at most 1"):
        empty.summary(converged_below=2)


def test_a_resumed_monitor_keeps_the_learning_rates_it_judges_by():
    model, monitor = trained(sgd(lr=0.1, weight_decay=0.05), 100, monitor_lambda=0.05)
    state = monitor.state_dict()
    resumed = Monitor(model, *data(), "mse", weight_decay=0.05, every=100, resume=True)
    resumed.load_state_dict(state)
    peak, _ = resumed.optimizers.learning_rates(resumed.parameters)
    assert peak == monitor.optimizers.learning_rates(monitor.parameters)[0] == {"0": 0.1, "2": 0.1}
    old_state = {key: value for key, value in state.items() if key != "optimizers"}  # saved before they were kept
    Monitor(model, *data(), "mse", weight_decay=0.05, resume=True).load_state_dict(old_state)
