import pandas as pd
import pytest
import torch

from fact.io import atomic_path, load_torch, read_parquet_metadata, save_torch, write_parquet


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "out" / "table.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half a file")
            raise RuntimeError("killed mid-write")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_an_existing_output_survives_a_failed_rewrite(tmp_path):
    target = tmp_path / "model.pt"
    save_torch({"weights": torch.ones(2)}, target)
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"partial")
            raise KeyboardInterrupt
    assert torch.equal(load_torch(target)["weights"], torch.ones(2))


def test_parquet_round_trip_keeps_metadata(tmp_path):
    table = pd.DataFrame({"relation": ["fact", "nfa"], "power": [float("nan"), 0.5], "cosine": [1.0, 0.4]})
    write_parquet(table, tmp_path / "t.parquet", {"scale": "quick", "powers": [0.5]})
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), table)
    assert read_parquet_metadata(tmp_path / "t.parquet") == {"scale": "quick", "powers": [0.5]}
