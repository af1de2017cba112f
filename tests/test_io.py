import signal
import subprocess
import sys

import pandas as pd
import pytest
import torch

from fact.experiments.io import load_torch, read_parquet_metadata, save_torch, write_parquet
from fact.features.atomic import atomic_path


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


def test_a_killed_write_leaves_no_litter_once_the_job_runs_again(tmp_path):
    # SIGKILL cannot be caught, so the temporary file stays; the rerun must take it over, not add another
    target = tmp_path / "model.pt"
    script = (
        "import sys, time\nfrom fact.features.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as temporary:\n"
        "    temporary.write_bytes(b'half')\n    print('writing', flush=True)\n    time.sleep(60)\n"
    )
    writer = subprocess.Popen([sys.executable, "-c", script, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert not target.exists()
    save_torch({"weights": torch.ones(2)}, target)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.pt"]


def test_a_saved_tensor_file_is_byte_stable_across_reruns(tmp_path):
    # the archive must not carry the name of the temporary file it was written to
    target = tmp_path / "run.pt"
    save_torch({"weights": torch.arange(6.0), "note": "x"}, target)
    first = target.read_bytes()
    save_torch({"weights": torch.arange(6.0), "note": "x"}, target)
    assert target.read_bytes() == first


# ---------------------------------------------------------------- damaged files are named, with what to do


def _member_offset(path, suffix: str) -> int:
    """Where the bytes of the archive member ending in ``suffix`` start in the file."""
    import zipfile

    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(suffix))
    with open(path, "rb") as handle:
        handle.seek(info.header_offset + 26)
        name_length, extra_length = (int.from_bytes(handle.read(2), "little") for _ in range(2))
    return info.header_offset + 30 + name_length + extra_length


@pytest.mark.parametrize("damage", ["truncated", "flipped byte in the weights", "not an archive"])
def test_a_damaged_torch_file_is_named_with_what_to_do(tmp_path, damage):
    from fact.experiments.io import UnreadableResultError

    path = tmp_path / "seed0.pt"
    save_torch({"state_dict": {"weight": torch.arange(64.0)}}, path)
    data = bytearray(path.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "flipped byte in the weights":
        data[_member_offset(path, "data/0") + 17] ^= 0x40  # still a finite float32: only the checksum tells
    else:
        data = b"not a torch file at all"
    path.write_bytes(bytes(data))
    with pytest.raises(UnreadableResultError, match=rf"^{path} is truncated or corrupt \(.*\): delete it and rerun"):
        load_torch(path)


def test_a_truncated_parquet_file_is_named_with_what_to_do(tmp_path):
    from fact.experiments.io import UnreadableResultError, read_parquet

    path = tmp_path / "fig7.parquet"
    write_parquet(pd.DataFrame({"a": range(100)}), path, {"settings": {"powers": [0.5]}})
    assert read_parquet(path).a.sum() == 4950
    path.write_bytes(path.read_bytes()[:-40])
    for reader in (read_parquet, read_parquet_metadata):
        with pytest.raises(UnreadableResultError, match=rf"^{path} is truncated or corrupt .*delete it and rerun"):
            reader(path)
    with pytest.raises(FileNotFoundError):  # a missing file is not a damaged one
        read_parquet(tmp_path / "absent.parquet")


def test_a_table_changed_after_its_stage_wrote_it_is_refused_naming_it(tmp_path):
    import pyarrow.parquet as pq

    from fact.experiments.io import ChangedResultError, read_parquet

    path = tmp_path / "fig2.parquet"
    table = pd.DataFrame({"layer": ["0", "2"], "pearson": [0.2, 0.3], "note": ["quick", None]})
    write_parquet(table, path, {"settings": {"powers": [0.5]}})
    pd.testing.assert_frame_equal(read_parquet(path), pd.read_parquet(path))
    edited = pq.read_table(path)  # a value changed by hand, the stage's metadata kept
    edited = edited.set_column(1, "pearson", pq.read_table(path).column("pearson").to_pandas().replace(0.2, 0.99))
    pq.write_table(edited.replace_schema_metadata(pq.read_schema(path).metadata), path)
    with pytest.raises(ChangedResultError, match=rf"^{path}: its content no longer matches the checksum"):
        read_parquet(path)
    table.to_parquet(path)  # written by pandas: no stage's checksum, no settings
    with pytest.raises(ChangedResultError, match=rf"^{path} carries no content checksum.*delete it and rerun"):
        read_parquet(path)
    with pytest.raises(ChangedResultError, match=rf"^{path} has no metadata of this pipeline"):
        read_parquet_metadata(path)


def test_an_output_that_cannot_be_written_says_where_and_how_much_room_is_left(tmp_path, monkeypatch):
    def full_disk(obj, handle):
        handle.write(b"PK")
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 64 vs 0")

    monkeypatch.setattr(torch, "save", full_disk)
    path = tmp_path / "run.pt"
    with pytest.raises(OSError, match=rf"could not write {path} .*unexpected pos.*GiB free there: free some space"):
        save_torch({"a": 1}, path)
    assert list(tmp_path.iterdir()) == []  # no half file, under either name
