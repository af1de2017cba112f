# Validation of config.yaml: the JSON schema, and what a schema cannot say (non-finite numbers,
# whole numbers written as floats, relations between settings, sizes no machine holds). Runs when
# the DAG is built, so a bad setting stops the run before any job, naming its key.
import math
import re
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import best_match
from snakemake.exceptions import WorkflowError

from fact.experiments.experiment_table import EXPERIMENTS
from fact.experiments.scales import scale_settings
from fact.experiments.sizes import NO_MACHINE_HOLDS, mlp_size_problem

NESTED_CONFIG_HINT = (
    "Settings below the top level cannot be given with --config: Snakemake passes their values as "
    "strings. Put them in a YAML file laid out like config.yaml, holding only what changes, e.g.\n"
    "    scales:\n      quick:\n        parity:\n          reg: 0.1\n"
    "and add it with --configfile my_settings.yaml (see the README)."
)


def key_path(parts):
    return ".".join(str(part) for part in parts) or "(the top level)"


def with_every_scale_in_full(config):
    """config with each scale's settings in full (the quick scale's, its own merged in): what the schema
    and the jobs read. A config whose scales are not laid out as mappings is left for the schema to name."""
    scales = config.get("scales")
    if not (isinstance(scales, dict) and isinstance(scales.get("quick"), dict)):
        return config
    return {**config, "scales": {scale: scale_settings(scales, scale) for scale in scales}}


def config_schema():
    """The schema of config.yaml, with each network experiment's block (a row of fact.experiments.experiment_table)
    checked by the definition its row names, so that a new experiment needs no entry here."""
    schema = yaml.safe_load((Path(workflow.current_basedir) / "../schemas/config.schema.yaml").read_text())
    settings = schema["$defs"]["settings"]
    for experiment in EXPERIMENTS.values():
        if experiment.schema_definition not in schema["$defs"]:
            raise WorkflowError(
                f"the experiment {experiment.name!r} (fact/experiments/experiment_table.py) names the schema definition "
                f"{experiment.schema_definition!r}, which workflow/schemas/config.schema.yaml lacks; give schema= one of "
                f"{', '.join(sorted(schema['$defs']))}"
            )
        settings["properties"][experiment.name] = {"$ref": f"#/$defs/{experiment.schema_definition}"}
        settings["required"].append(experiment.name)
    return schema


def whole_numbers_only(checker, value):
    """JSON Schema counts 2.0 as an integer; the jobs need a true one (2.0 names no file L2_seed0.pt)."""
    return isinstance(value, int) and not isinstance(value, bool)


# Defaults live in the stages' settings dataclasses alone: the schema has none, and config.yaml writes every
# setting the pipeline runs with.
ConfigValidator = validators.extend(
    Draft202012Validator, type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", whole_numbers_only)
)


def schema_error_message(error):
    """What the schema refused, naming the key; a whole number written as a float says how to write it."""
    where = key_path(error.absolute_path)
    wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    if (
        error.validator == "type"
        and isinstance(error.instance, float)
        and error.instance.is_integer()
        and "integer" in wanted
    ):
        return f"{where} is {error.instance!r}: write {int(error.instance)}, a whole number without a decimal point"
    return f"config.yaml, {where}: {error.message}"


def schema_validate(full):
    """Stop at the value the schema refuses, if any, naming its key."""
    error = best_match(ConfigValidator(config_schema()).iter_errors(full))
    if error is None:
        return
    message = schema_error_message(error)
    given = workflow.config_settings.config  # the hint is for --config alone (configfiles nest by design)
    if any(isinstance(value, dict) for value in given.values()):
        message = f"{message}\n\n{NESTED_CONFIG_HINT}"
    raise WorkflowError(message)


def refuse_non_finite(value, parts=()):
    """YAML's .nan and .inf are numbers to the schema; no setting can use one."""
    if isinstance(value, float) and not math.isfinite(value):
        raise WorkflowError(f"{key_path(parts)} is {value}: give a finite number")
    if isinstance(value, dict):
        for key, item in value.items():
            refuse_non_finite(item, (*parts, key))
    if isinstance(value, list):
        for index, item in enumerate(value):
            refuse_non_finite(item, (*parts, index))


def refuse_numbers_as_text(value, parts=()):
    """PyYAML reads 1e-1 (no point in its mantissa) as the string '1e-1', which the schema would call a
    string where a number goes, without saying why."""
    if isinstance(value, str) and re.fullmatch(r"[-+]?\d+[eE][-+]?\d+", value):
        mantissa, exponent = re.split("[eE]", value)
        raise WorkflowError(
            f"{key_path(parts)} is the text {value!r}: YAML reads a number in exponent form as text unless its "
            f"mantissa has a point; write {mantissa}.0e{exponent}"
        )
    for key, item in value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ():
        refuse_numbers_as_text(item, (*parts, key))


def check_relations(where, settings):
    ks = [size["k"] for size in settings["parity"]["fig3"]["sizes"]]
    repeated = sorted({k for k in ks if ks.count(k) > 1})
    if repeated:
        raise WorkflowError(
            f"{where}.parity.fig3.sizes lists k = {repeated} more than once; Figure 3 draws "
            "one panel per k, so give each k one n"
        )
    mlp = settings["mlp"]
    most = max(
        [
            mlp["train"]["epochs"],
            *(train.get("epochs", 0) for train in mlp.get("train_by_dataset", {}).values()),
        ]
    )
    beyond = [epoch for epoch in mlp["keep_epochs"] if epoch > most]
    if beyond:
        raise WorkflowError(
            f"{where}.mlp.keep_epochs has {beyond}, beyond the {most} epochs of every run "
            f"({where}.mlp.train.epochs and train_by_dataset); keep epochs 0..{most} only"
        )
    model = settings["transformer"]["model"]
    if model["width"] % model["heads"]:
        raise WorkflowError(
            f"{where}.transformer.model.width is {model['width']}, not a multiple of its "
            f"{model['heads']} heads: each head gets width / heads dimensions"
        )


def check_sizes(where, settings):
    """A model no machine can hold (each training job checks its own machine's memory as it starts)."""
    mlp = settings["mlp"]
    for dataset in mlp["datasets"]:
        problem = mlp_size_problem(
            f"{where}.mlp.model",
            dataset,
            mlp["model"]["width"],
            mlp["model"]["depth"],
            NO_MACHINE_HOLDS,
            "that any one machine has",
        )
        if problem:
            raise WorkflowError(problem)


def validated_scales():
    """Every scale's settings in full, each checked: the values as written first (so an error names the key
    written), then each scale's merged settings."""
    refuse_non_finite(config)  # first: the schema's comparisons pass NaN, and fail inf with less to say
    refuse_numbers_as_text(config)
    full = with_every_scale_in_full(config)
    schema_validate(full)
    for scale, settings in full["scales"].items():
        check_relations(f"scales.{scale}", settings)
        check_sizes(f"scales.{scale}", settings)
    return full["scales"]


SCALES = validated_scales()  # {scale: every setting}; config.yaml writes the paper scale as what differs
