"""fact.features.monitor in a plain training loop: the recorded rows against fact.features.weights and
feature_matrices on the same weights, tau against the optimizers' own arithmetic, and a monitor that
leaves the training as it was."""

from __future__ import annotations

import copy
import logging
import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from fact.features.decay_time import DecayClock, decay_rate
from fact.features.layer_matrices import agreement_records
from fact.features.matrices import feature_matrices
from fact.features.monitor import COLUMNS, Monitor
from fact.features.monitor_settings import MONITOR_MEASURES
from fact.features.names import MEASURES
from fact.features.weights import weight_matrices

WEIGHT_DECAY = 1e-2


def network_and_data(seed: int):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(5, 12), nn.Tanh(), nn.Linear(12, 12), nn.Tanh(), nn.Linear(12, 3)).double()
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(40, 5, generator=generator, dtype=torch.float64)
    return model, X, torch.randn(40, 3, generator=generator, dtype=torch.float64)


def train(model, X, Y, optimizer, monitor, steps: int, scheduler=None) -> None:
    for _ in range(steps):
        optimizer.zero_grad()
        nn.functional.mse_loss(model(X[:16]), Y[:16]).backward()
        optimizer.step()
        monitor.step(optimizer)
        if scheduler is not None:
            scheduler.step()


# with Spearman's the record forms the matrices; without, it measures FACT from the smaller side's products
@pytest.mark.parametrize("measures", [("pearson", "spearman", "cosine", "relative_error"), MONITOR_MEASURES])
def test_the_last_rows_are_fact_of_the_weights_as_they_end(fresh_seed, tmp_path, measures):
    model, X, Y = network_and_data(fresh_seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=WEIGHT_DECAY)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=4, path=tmp_path / "fact.parquet", measures=measures)
    train(model, X, Y, optimizer, monitor, steps=10)
    table = monitor.table
    assert list(table.columns) == [column for column in COLUMNS if column in measures or column not in MEASURES]
    assert sorted(table.step.unique()) == [4, 8]
    assert set(table.layer) == {"0", "2", "4"} and set(table.relation) == {"fact", "bfact"}
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "fact.parquet"), table)

    monitor.steps = 8  # the weights as they are now, recorded again as if at step 8, and computed directly
    now = monitor.record().set_index(["layer", "relation"])
    for name, weight in weight_matrices(model, X, Y, "mse", WEIGHT_DECAY).items():
        for side, relation in (("forward", "fact"), ("backward", "bfact")):
            expected = agreement_records(weight, [(side, relation, math.nan, getattr(weight, relation))], 0.0)[0]
            row = now.loc[(name, relation)]
            for measure in measures:
                assert row[measure] == pytest.approx(expected[measure], rel=1e-12, abs=1e-14), f"{name} {measure}"
            assert row.stationarity_error == pytest.approx(weight.stationarity_error, rel=1e-12)


def test_a_comparison_on_an_unknown_side_is_refused(fresh_seed):
    model, X, Y = network_and_data(fresh_seed)
    weight = weight_matrices(model, X, Y, "mse", WEIGHT_DECAY)["0"]
    with pytest.raises(ValueError, match="'forward' or 'backward'"):
        agreement_records(weight, [("sideways", "fact", math.nan, weight.fact)], 0.0)


def test_nfa_and_enfa_rows_are_those_of_feature_matrices(fresh_seed):
    model, X, Y = network_and_data(fresh_seed)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, nfa=True, agop_probes=None, powers=(0.5, 1.0))
    rows = monitor.record().set_index(["layer", "relation", "power"])
    for name, result in feature_matrices(model, X, Y, "mse", WEIGHT_DECAY).items():
        for expected in result.agreement((0.5, 1.0)):
            if expected["relation"] in ("nfa", "bnfa", "enfa", "benfa"):
                got = rows.loc[(name, expected["relation"], expected["power"])]
                got = got.iloc[0] if isinstance(got, pd.DataFrame) else got
                assert got.pearson == pytest.approx(expected["pearson"], rel=1e-12), f"{name} {expected['relation']}"
    assert set(rows.index.get_level_values("relation")) == {"fact", "bfact", "nfa", "bnfa", "enfa", "benfa"}


def test_a_tied_heads_nfa_and_enfa_are_recorded_under_its_own_name_with_the_weights_stationarity(fresh_seed):
    from tests.support.zoo import zoo

    model, tokens, labels, _, _ = zoo("tied head", fresh_seed)
    rows = Monitor(model, tokens, labels, "ce", WEIGHT_DECAY, nfa=True, agop_probes=None).record()
    head = rows[rows.layer == "head"]
    assert set(head.relation) == {"nfa", "bnfa", "enfa", "benfa"}  # FACT of the weight is under "embedding"
    embedding = rows[rows.layer == "embedding"]
    assert head.stationarity_error.unique() == pytest.approx(embedding.stationarity_error.unique(), rel=1e-10)
    expected = feature_matrices(model, tokens, labels, "ce", WEIGHT_DECAY)["head"].agreement((0.5,))
    for record in (r for r in expected if r["relation"] in set(head.relation)):
        got = head[head.relation == record["relation"]].iloc[0]
        assert got.pearson == pytest.approx(record["pearson"], rel=1e-12), record["relation"]


def test_the_sketched_agop_is_near_the_exact_one(fresh_seed):
    model, X, Y = network_and_data(fresh_seed)
    exact = Monitor(model, X, Y, "mse", WEIGHT_DECAY, nfa=True, agop_probes=None).record()
    sketched = Monitor(model, X, Y, "mse", WEIGHT_DECAY, nfa=True, agop_probes=64, seed=fresh_seed).record()
    nfa = (exact.relation == "nfa").to_numpy()
    assert (abs(exact.pearson[nfa].to_numpy() - sketched.pearson[nfa].to_numpy()) < 0.1).all()


def test_tau_of_sgd_with_momentum_follows_the_learning_rates(fresh_seed):
    model, X, Y = network_and_data(fresh_seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=WEIGHT_DECAY)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=12)
    rates = []
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=12)
    for _ in range(12):
        rates.append(optimizer.param_groups[0]["lr"])
        train(model, X, Y, optimizer, monitor, steps=1, scheduler=scheduler)
    expected = WEIGHT_DECAY / (1 - 0.9) * sum(rates)
    assert monitor.table.tau.unique() == pytest.approx([expected], rel=1e-12)
    assert not monitor.table.tau.unique() == pytest.approx([WEIGHT_DECAY * sum(rates)])  # momentum counts


def test_tau_of_adamw_is_lambda_times_the_learning_rates_and_adam_l2_has_none(caplog):
    parameter = nn.Parameter(torch.ones(3))
    adamw = torch.optim.AdamW([parameter], lr=0.01, weight_decay=0.1)
    adam = torch.optim.Adam([parameter], lr=0.01, weight_decay=0.1)
    clock = DecayClock()
    for _ in range(5):
        clock.tick(adamw)
    assert clock.tau(parameter) == pytest.approx(5 * 0.01 * 0.1, rel=1e-12)
    assert math.isnan(decay_rate(adam, adam.param_groups[0]))
    assert decay_rate(torch.optim.SGD([parameter], lr=1.0), {"weight_decay": 0.0}) == 0.0
    model, X, Y = network_and_data(0)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=1)
    with caplog.at_level(logging.WARNING):
        train(model, X, Y, torch.optim.Adam(model.parameters(), weight_decay=WEIGHT_DECAY), monitor, steps=1)
    assert monitor.table.tau.isna().all()
    assert "no decay time tau" in caplog.text


def test_a_weight_decayed_otherwise_than_lambda_is_named(caplog):
    model, X, Y = network_and_data(0)
    optimizer = torch.optim.SGD(
        [{"params": model[0].parameters(), "weight_decay": 0.0}, {"params": list(model[2:].parameters())}],
        lr=0.01,
        weight_decay=WEIGHT_DECAY,
    )
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=1)
    with caplog.at_level(logging.WARNING):
        train(model, X, Y, optimizer, monitor, steps=1)
    assert "['0']" in caplog.text and "another weight decay" in caplog.text
    assert monitor.table.set_index("layer").tau.loc["0"].eq(0).all()


def test_the_monitor_leaves_the_training_as_it_was(fresh_seed):
    """Same weights with and without it: no gradient, mode or random draw of the training is touched."""
    ends = []
    for monitored in (False, True):
        model, X, Y = network_and_data(fresh_seed)
        model.append(nn.Dropout(0.2))  # draws from the global random state in training mode
        optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=WEIGHT_DECAY)
        monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2 if monitored else 10**9, nfa=True)
        torch.manual_seed(fresh_seed)
        for _ in range(6):
            optimizer.zero_grad()
            nn.functional.mse_loss(model(X[:16]), Y[:16]).backward()
            grads = [p.grad.clone() for p in model.parameters()]
            optimizer.step()
            monitor.step(optimizer)
            assert model.training
            assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), grads))
        ends.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*ends))


def test_tensorboard_gets_the_correlations_stationarity_and_tau(tmp_path):
    tensorboard = pytest.importorskip("torch.utils.tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    model, X, Y = network_and_data(0)
    writer = tensorboard.SummaryWriter(tmp_path)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=WEIGHT_DECAY)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2, writer=writer)
    train(model, X, Y, optimizer, monitor, steps=4)
    writer.close()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"pearson/0/fact", "pearson/4/bfact", "stationarity/2", "tau/0"} <= tags
    fact = [event.value for event in events.Scalars("pearson/0/fact")]
    expected = monitor.table.query("layer == '0' and relation == 'fact'").pearson
    assert fact == pytest.approx(list(expected), rel=1e-6)  # TensorBoard keeps float32
    assert [event.step for event in events.Scalars("tau/0")] == [2, 4]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"every": 0}, "every must be a whole number"),
        ({"every": 1.5}, "every must be a whole number"),
        ({"names": ["9"]}, "no weight named ['9']"),
        ({"weight_decay": 0}, "weight_decay must be a finite number > 0"),
        ({"names": "10"}, "no weight named ['10']"),  # a string is one name, not ['1', '0']
        ({"powers": (-1,)}, "each of powers must be a finite number > 0"),
        ({"powers": 0.5}, "powers must be a sequence"),
        ({"every": True}, "every must be a whole number"),
    ],
)
def test_bad_settings_are_named(options, message):
    model, X, Y = network_and_data(0)
    settings = {"weight_decay": WEIGHT_DECAY, **options}
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Monitor(model, X, Y, "mse", **settings)


def test_a_whole_number_of_any_integer_type_is_a_step_count_and_an_unwritable_path_is_refused_when_made(tmp_path):
    model, X, Y = network_and_data(0)
    assert Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=np.int64(10)).every == 10
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="cannot make the folder of path="):
        Monitor(model, X, Y, "mse", WEIGHT_DECAY, path=tmp_path / "file" / "fact.parquet")


def test_a_second_call_for_one_optimizer_step_is_not_counted(caplog):
    model, X, Y = network_and_data(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=WEIGHT_DECAY)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2)
    with caplog.at_level(logging.WARNING):
        for _ in range(4):
            train(model, X, Y, optimizer, monitor, steps=1)
            monitor.step(optimizer)  # again, for the same step
    assert monitor.steps == 4 and monitor.table.tau.max() == pytest.approx(4 * 0.1 * WEIGHT_DECAY, rel=1e-12)
    assert "took no step since the last count" in caplog.text


def test_a_layer_replaced_after_the_monitor_was_made_is_followed_with_its_own_tau(caplog):
    model, X, Y = network_and_data(0)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=1)
    train(model, X, Y, torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=WEIGHT_DECAY), monitor, steps=2)
    model[4] = nn.Linear(12, 3).double()  # a new head, trained from here by a new optimizer
    with caplog.at_level(logging.WARNING):
        train(model, X, Y, torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=WEIGHT_DECAY), monitor, steps=1)
    last = monitor.table[monitor.table.step == 3].set_index("layer").tau
    assert last.loc["4"].unique() == pytest.approx([0.1 * WEIGHT_DECAY]) and last.loc["0"].unique() == pytest.approx(
        [0.3 * WEIGHT_DECAY]
    )
    assert "none of the optimizer's parameter groups" not in caplog.text


def test_a_run_resumed_on_its_path_goes_on_with_its_table_and_tau(fresh_seed, tmp_path):
    """Killed at step 7 after a checkpoint at step 4 (state saved), resumed from it: the rows before step 4
    stay, the one recorded after it (step 6) is recorded again, tau goes on, nothing is overwritten."""
    path = tmp_path / "fact.parquet"
    model, X, Y = network_and_data(fresh_seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=WEIGHT_DECAY)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2, path=path)
    train(model, X, Y, optimizer, monitor, steps=4)
    saved = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "monitor": monitor.state_dict()}
    checkpoint = copy.deepcopy(saved)  # as torch.save would: the state dicts hold the live tensors
    train(model, X, Y, optimizer, monitor, steps=3)  # step 6 recorded, then killed at 7
    uninterrupted = monitor.table
    with pytest.raises(ValueError, match="already holds 18 rows of an earlier run .steps 2 to 6.: pass resume=True"):
        Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2, path=path)
    assert len(pd.read_parquet(path)) == 18  # refused, and left as it was

    model.load_state_dict(checkpoint["model"])
    optimizer.load_state_dict(checkpoint["optimizer"])
    resumed = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2, path=path, resume=True)
    with pytest.raises(ValueError, match="resumes a run .resume=True. but was not told where"):
        resumed.step(optimizer)
    resumed.load_state_dict(checkpoint["monitor"])
    train(model, X, Y, optimizer, resumed, steps=2)
    table = pd.read_parquet(path)
    assert table.step.tolist() == uninterrupted.step.tolist()
    pd.testing.assert_series_equal(table.tau, uninterrupted.tau, rtol=1e-12)
    pd.testing.assert_series_equal(table.pearson, uninterrupted.pearson, rtol=1e-9)

    without_state = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2, path=path, resume=True)
    with pytest.raises(ValueError, match="a resumed run's step is a whole number"):
        without_state.resume_at("6")
    without_state.resume_at(6)
    train(model, X, Y, optimizer, without_state, steps=2)
    assert without_state.table.step.max() == 8 and without_state.table.tau.iloc[-1] != without_state.table.tau.iloc[-1]


def test_the_plot_has_a_panel_per_matrix_with_tau_on_top(tmp_path):
    pytest.importorskip("matplotlib")
    from fact.features.monitor_plot import plot_monitor

    model, X, Y = network_and_data(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=WEIGHT_DECAY)
    monitor = Monitor(model, X, Y, "mse", WEIGHT_DECAY, every=2, nfa=True)
    train(model, X, Y, optimizer, monitor, steps=6)
    figure = plot_monitor(monitor.table)
    titled = [axis for axis in figure.axes if axis.get_title()]
    assert [axis.get_title() for axis in titled] == ["0", "2", "4"]
    assert all([child.get_xlabel() for child in axis.child_axes] == ["τ"] for axis in titled)
    figure.savefig(tmp_path / "monitor.pdf")
    with pytest.raises(ValueError, match="no rows to plot"):
        plot_monitor(monitor.table.iloc[:0])


def test_every_panel_of_the_plot_shows_all_of_its_data_and_bad_requests_are_named():
    pytest.importorskip("matplotlib")
    from fact.features.monitor_plot import plot_monitor

    rows = [
        {"step": step, "tau": 0.1 * step, "layer": layer, "side": "forward", "relation": "fact", "power": math.nan,
         "pearson": value, "spearman": value, "cosine": value, "relative_error": error, "stationarity_error": 0.5}
        for step in (1, 2, 3)
        for layer, value, error in (("a", 0.9, 0.1), ("b", -0.8, 80.0 * step))
    ]  # fmt: skip
    table = pd.DataFrame(rows, columns=COLUMNS)
    for measure in ("pearson", "relative_error"):
        figure = plot_monitor(table, measure=measure)
        panels = {axis.get_title(): axis for axis in figure.axes if axis.get_title()}
        for layer, axis in panels.items():
            low, high = axis.get_ylim()
            values = table[table.layer == layer][measure]
            assert low <= values.min() and values.max() <= high, f"{measure} {layer}: {(low, high)}"
    with pytest.raises(ValueError, match=r"no rows of layers \['nope'\]; the table's layers are \['a', 'b'\]"):
        plot_monitor(table, layers=["nope"])
    with pytest.raises(ValueError, match="columns must be a whole number"):
        plot_monitor(table, columns=0)
    with pytest.raises(ValueError, match="measure must be one of"):
        plot_monitor(table, measure="pearsons")


@pytest.mark.parametrize("low, high", [(0.3, 0.6), (0.05, 3.0), (1e-3, 43.0), (1e-9, 1e4), (0.42, 0.42)])
def test_the_stationarity_axis_has_a_few_labels_whatever_its_span(low, high):
    pytest.importorskip("matplotlib")
    from fact.features.monitor_plot import plot_monitor

    steps = np.arange(1, 31)
    rows = [
        {"step": step, "tau": 0.1 * step, "layer": "a", "side": "forward", "relation": "fact", "power": math.nan,
         "pearson": 0.9, "spearman": 0.9, "cosine": 0.9, "relative_error": 0.1, "stationarity_error": error}
        for step, error in zip(steps, np.geomspace(high, low, len(steps)))
    ]  # fmt: skip
    figure = plot_monitor(pd.DataFrame(rows, columns=COLUMNS))
    figure.canvas.draw()
    right = next(axis for axis in figure.axes if axis.get_yscale() == "log")
    bottom, top = right.get_ylim()
    shown = [tick for tick in right.get_yticks() if bottom <= tick <= top]
    labels = [label.get_text() for label in right.get_yticklabels() if label.get_text()]
    assert 1 <= len(shown) <= 5 and len(labels) == len(shown) == len(set(labels)), labels
    assert len(shown) >= 2 or low == high


def test_lambda_left_out_is_read_from_the_optimizers_groups_at_the_first_step():
    model, X, Y = network_and_data(0)
    monitor = Monitor(model, X, Y, "mse", every=2)
    with pytest.raises(ValueError, match="to record before training, give the lambda"):
        monitor.record()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, weight_decay=WEIGHT_DECAY)
    train(model, X, Y, optimizer, monitor, steps=2)
    given = Monitor(copy.deepcopy(model), X, Y, "mse", WEIGHT_DECAY).record()
    assert monitor.weight_decay == WEIGHT_DECAY
    assert np.allclose(monitor.table.stationarity_error, given.stationarity_error, rtol=1e-12)


def test_lambda_is_not_guessed_where_the_groups_disagree():
    model, X, Y = network_and_data(0)
    groups = [{"params": model[0].parameters(), "weight_decay": 0.1}, {"params": model[2:].parameters()}]
    optimizer = torch.optim.SGD(groups, lr=0.05)
    monitor = Monitor(model, X, Y, "mse", every=2)
    with pytest.raises(ValueError, match=r"decay the followed weights with \[0, 0.1\].*give weight_decay="):
        train(model, X, Y, optimizer, monitor, steps=1)


def test_spearmans_correlation_is_recorded_where_asked_and_a_table_holding_it_is_not_cut(fresh_seed, tmp_path):
    model, X, Y = network_and_data(fresh_seed)
    default = Monitor(model, X, Y, "mse", WEIGHT_DECAY).record()
    assert list(default.columns) == [column for column in COLUMNS if column != "spearman"]
    ranked = Monitor(model, X, Y, "mse", WEIGHT_DECAY, measures=["pearson", "spearman"], path=tmp_path / "t.parquet")
    rows = ranked.record()
    assert list(rows.columns) == ["step", "tau", "layer", "side", "relation", "power", "pearson", "spearman",
                                  "stationarity_error"]  # fmt: skip
    pd.testing.assert_series_equal(rows.pearson, default.pearson)
    with pytest.raises(ValueError, match=r"holds the earlier run's \['spearman'\], which measures="):
        Monitor(model, X, Y, "mse", WEIGHT_DECAY, path=tmp_path / "t.parquet", resume=True)
    for wrong in ("spearman", ["cosine"], ["pearson", "kendall"]):
        with pytest.raises(ValueError, match="measures must"):
            Monitor(model, X, Y, "mse", WEIGHT_DECAY, measures=wrong)
