"""The README's CNN and transformer examples run as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_cnn_and_transformer_examples_run():
    section = README.read_text().split("### Every weight of a CNN or a transformer", 1)[1].split("\n### ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 2
    namespace: dict = {}
    for code in blocks:  # the second continues the first
        exec(compile(code, "README.md", "exec"), namespace)
    assert "unembed" not in namespace["weights"]  # tied: one matrix, named once
    assert namespace["weights"]["attention[q]"].fact.shape == (32, 32)
    assert set(namespace["layers"]) == {"attention[q]", "attention[k]", "attention[v]", "attention.out_proj",
                                        "mlp_in", "mlp_out", "token", "unembed"}
