"""Helpers shared by the stage entry points: settings, logging, devices."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

import torch

from fact.experiments.io import UnreadableResultError
from fact.experiments.job_settings import SettingsError, describe, from_json
from fact.kernel_machines import devices


def settings_argument(settings_class: type):
    """argparse type: the JSON object given on the command line, as an instance of ``settings_class``."""

    def parse(text: str):
        try:
            value = json.loads(text)
        except json.JSONDecodeError as error:
            raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text[:200]}") from error
        try:
            return from_json(settings_class, value)
        except SettingsError as error:
            raise argparse.ArgumentTypeError(str(error)) from error

    parse.__name__ = settings_class.__name__  # what argparse names in its messages
    return parse


def setup_logging(name: str) -> logging.Logger:
    """Log lines to stderr (the rule's log file), with timestamps."""
    logging.basicConfig(
        level=logging.WARNING, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("fact").setLevel(logging.INFO)  # ours at INFO, libraries (fontTools...) quiet
    return logging.getLogger(f"fact.experiments.stages.{name}")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU stops the stage, saying what to set; and a job
    the scheduler gave a GPU that PyTorch cannot see stops instead of running for hours on the CPU."""
    given = granted_gpus()
    if name != "cpu" and given and not torch.cuda.is_available():
        cuda = torch.version.cuda
        build = f"a CPU-only build ({torch.__version__})" if cuda is None else f"built for CUDA {cuda}"
        raise SystemExit(
            f"this job was given a GPU ({given}) but PyTorch sees none: its PyTorch is {build}. A conda "
            "environment solved on a login node without a GPU can get a CPU-only PyTorch: solve it where a GPU is "
            "(or set CONDA_OVERRIDE_CUDA, e.g. CONDA_OVERRIDE_CUDA=12.4 conda env create -f environment.yml), or "
            "set device: cpu for this experiment in config.yaml to run it on the CPU"
        )
    try:
        return devices.resolve_device(name)
    except ValueError:  # the library's message names its own parameter; a stage's setting is in config.yaml
        raise SystemExit(
            f"device '{name}' was asked for but no CUDA GPU is visible; set device: auto or cpu in config.yaml"
        ) from None


def granted_gpus() -> str:
    """The GPUs the scheduler gave this job, as its environment names them ("" where it gave none)."""
    for variable in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = os.environ.get(variable, "").strip()
        if value and value not in ("-1", "NoDevFiles"):
            return f"{variable}={value}"
    return ""


def fail(logger: logging.Logger, message: str) -> None:
    """Log an error the user can act on and stop with a non-zero exit status."""
    logger.error(message)
    raise SystemExit(f"error: {message}")


def settings_parser(description: str, settings_class: type) -> argparse.ArgumentParser:
    """A stage's command line, starting with its --settings JSON, parsed into ``settings_class``
    (an unknown, missing or mistyped key stops it, naming the key)."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--settings",
        type=settings_argument(settings_class),
        required=True,
        help=f"JSON object with the keys: {describe(settings_class)}",
    )
    return parser


# The files a stage can be given, by option name.
FILE_OPTIONS = {
    "checkpoints": {"nargs": "+", "help": "the trained networks (.pt), one per run"},
    "out": {"help": "the .pt file to write"},
    "table": {"help": "the tidy Parquet table to write"},
    "matrices": {"help": "the .pt file of matrices to write"},
    "history": {"help": "the Parquet table of the training history to write"},
}
OUTPUT_OPTIONS = ("out", "table", "matrices", "history")


def start_stage(
    name: str, description: str, settings_class: type, argv: list[str] | None, files: tuple[str, ...]
) -> tuple[argparse.Namespace, logging.Logger]:
    """Every stage's first line: its command line parsed (--settings into ``settings_class``, then
    the named ``files``, all required) and its logger, ``fact.experiments.stages.<name>``."""
    parser = settings_parser(description, settings_class)
    for option in files:
        parser.add_argument(f"--{option}", required=True, **FILE_OPTIONS[option])
    if "checkpoints" in files:
        parser.add_argument(
            "--trained-with",
            type=json_list,
            required=True,
            help="JSON list: the settings each checkpoint's training job is given, in their order "
            "(a checkpoint trained otherwise is refused)",
        )
    args, log = parser.parse_args(argv), setup_logging(name)
    for option in files:
        if option in OUTPUT_OPTIONS:
            require_writable(getattr(args, option), log)
    return args, log


def json_list(text: str) -> list:
    """argparse type: a JSON list."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text[:200]}") from error
    if not isinstance(value, list):
        raise argparse.ArgumentTypeError(f"not a JSON list: {text[:200]}")
    return value


@contextlib.contextmanager
def stop_if_unreadable(log: logging.Logger):
    """Stop the stage, naming the file and what to do, when a result it reads is truncated or corrupt."""
    try:
        yield
    except UnreadableResultError as error:
        fail(log, str(error))


def require_writable(path: str, log: logging.Logger) -> None:
    """Stop before any work when ``path`` cannot be written (its folder read-only or immutable, a file
    in the way), rather than after hours of it: a file is created in its folder and removed."""
    folder = Path(path).parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        fail(
            log,
            f"cannot write {path}: {error.strerror or error} in {folder}; make the folder writable "
            "(chmod u+w, or chattr -i where it was made immutable) and rerun",
        )
