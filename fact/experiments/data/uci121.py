"""Reader for the UCI-121 collection of Fernandez-Delgado et al. (JMLR 2014).

Each dataset folder holds

* ``<name>.txt``: metadata, one ``key= value`` per line (n_entradas = features,
  n_clases = classes, fich1 = the data file, n_patrons1 = its rows, ...);
* ``fich1`` (``*_R.dat``): a header line, then tab-separated rows ``index f1 .. fd label``
  with standardised features and labels 0..c-1;
* ``conxuntos.dat``: two lines, the 0-based train and validation rows;
* ``conxuntos_kfold.dat``: eight lines, train and test rows of four folds.

Some datasets also name a ``fich2`` (a separate test file). Like the reference protocol
(Arora et al. 2020, the RFM benchmark), only ``fich1`` is read: every split indexes its rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fact.experiments.data.protocol_splits import TabularDataset


def read_metadata(path: Path) -> dict[str, str]:
    """A UCI-121 dataset's ``key = value`` metadata file as a dict."""
    metadata = {}
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key, _, value = line.partition("=")
        if not _:
            raise ValueError(f"{path}, line {number}: expected 'key= value', got {line!r}")
        metadata[key.strip()] = value.strip()
    return metadata


def _indices(path: Path, lines: int) -> list[np.ndarray]:
    rows = [line for line in Path(path).read_text().splitlines() if line.strip()]
    if len(rows) != lines:
        raise ValueError(f"{path}: expected {lines} lines of row indices, found {len(rows)}")
    return [np.array(row.split(), dtype=np.int64) for row in rows]


def load(folder: str | Path) -> TabularDataset:
    """One dataset of the collection, from its folder (named after the dataset)."""
    folder = Path(folder)
    name = folder.name
    metadata = read_metadata(folder / f"{name}.txt")
    try:
        d, c = int(metadata["n_entradas"]), int(metadata["n_clases"])
        data_file, rows = metadata["fich1"], int(metadata["n_patrons1"])
    except KeyError as missing:
        raise ValueError(f"{folder / f'{name}.txt'}: metadata key {missing} is missing") from None
    table = np.loadtxt(folder / data_file, skiprows=1, ndmin=2)
    if table.shape != (rows, d + 2):
        raise ValueError(
            f"{folder / data_file}: expected {rows} rows of index + {d} features + label, got shape {table.shape}"
        )
    X, labels = table[:, 1:-1], table[:, -1]
    if not np.array_equal(labels, np.round(labels)):
        raise ValueError(f"{folder / data_file}: labels must be integers")
    train, validation = _indices(folder / "conxuntos.dat", 2)
    kfold = _indices(folder / "conxuntos_kfold.dat", 8)
    folds = [(kfold[2 * i], kfold[2 * i + 1]) for i in range(4)]
    return TabularDataset(name, X, labels.astype(np.int64), c, (train, validation), folds, source=f"UCI-121 {folder}")
