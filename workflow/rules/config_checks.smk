# Validation of config.yaml: the JSON schema first, then what a schema cannot say (relations
# between settings). Runs when the DAG is built, so a bad setting stops the run before any job.
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

NESTED_CONFIG_HINT = (
    "Settings below the top level cannot be given with --config: Snakemake passes their values as "
    "strings. Put them in a YAML file laid out like config.yaml, holding only what changes, e.g.\n"
    "    scales:\n      quick:\n        parity:\n          reg: 0.1\n"
    "and add it with --configfile my_settings.yaml (see the README)."
)


def validate_config():
    try:
        validate(config, "../schemas/config.schema.yaml")
    except WorkflowError as error:
        given = workflow.config_settings.overwrite_config
        if any(isinstance(value, dict) for value in given.values()):
            raise WorkflowError(f"{error}\n\n{NESTED_CONFIG_HINT}") from None
        raise
    for scale, settings in config["scales"].items():
        where = f"scales.{scale}"
        ks = [size["k"] for size in settings["parity"]["fig3"]["sizes"]]
        repeated = sorted({k for k in ks if ks.count(k) > 1})
        if repeated:
            raise WorkflowError(f"{where}.parity.fig3.sizes lists k = {repeated} more than once; Figure 3 draws "
                                "one panel per k, so give each k one n")
        mlp = settings["mlp"]
        beyond = [epoch for epoch in mlp["keep_epochs"] if epoch > mlp["train"]["epochs"]]
        if beyond:
            raise WorkflowError(f"{where}.mlp.keep_epochs has {beyond}, beyond the {mlp['train']['epochs']} epochs "
                                f"of {where}.mlp.train.epochs; keep epochs 0..{mlp['train']['epochs']} only")


validate_config()
