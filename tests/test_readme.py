"""The README's CNN and transformer example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_cnn_and_transformer_example_runs():
    section = README.read_text().split("### Every weight of a CNN or a transformer", 1)[1].split("\n### ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert "unembed.weight" not in namespace["weights"]  # tied: one matrix, named once
    assert namespace["weights"]["attention.in_proj_weight[q]"].fact.shape == (32, 32)
