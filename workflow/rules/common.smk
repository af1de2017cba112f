# Helpers shared by the stage files. Only the standard library is imported here, so
# building the DAG never loads torch.
import json

SCALE = config["scale"]
SETTINGS = config["scales"][SCALE]
RESULTS = f"results/{SCALE}"
ENV = "../../environment.yml"


def as_json(value):
    """A settings block as one JSON word for the command line (and for params: comparison)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def code(*modules):
    """Source files under fact/ that a job runs, listed as its inputs so that editing them reruns it."""
    return [f"fact/{module}.py" for module in modules]
