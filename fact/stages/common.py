"""Helpers shared by the stage entry points: settings, logging, devices."""

from __future__ import annotations

import argparse
import json
import logging
import sys

import torch


def settings_argument(text: str) -> dict:
    """argparse type for a JSON object given on the command line."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"not valid JSON ({error}): {text[:200]}") from error
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {type(value).__name__}")
    return value


def setup_logging(name: str) -> logging.Logger:
    """Log lines to stderr (the rule's log file), with timestamps."""
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("fact").setLevel(logging.INFO)  # ours at INFO, libraries (fontTools...) quiet
    return logging.getLogger(f"fact.stages.{name}")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; ``cuda`` without a GPU is an error that says so."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(f"device '{name}' was asked for but no CUDA GPU is visible; set device: auto or cpu in config.yaml")
    return torch.device(name)


def fail(logger: logging.Logger, message: str) -> None:
    """Log an error the user can act on and stop with a non-zero exit status."""
    logger.error(message)
    raise SystemExit(f"error: {message}")


def settings_parser(description: str, settings_help: str) -> argparse.ArgumentParser:
    """A stage's command line, starting with its --settings JSON; the stage adds its files."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", type=settings_argument, required=True, help=f"JSON: {settings_help}")
    return parser


def results_parser(description: str, settings_help: str) -> argparse.ArgumentParser:
    """The command line of a stage that writes a tidy table and a .pt of matrices."""
    parser = settings_parser(description, settings_help)
    parser.add_argument("--table", required=True, help="tidy Parquet table to write")
    parser.add_argument("--matrices", required=True, help=".pt file of matrices to write")
    return parser

