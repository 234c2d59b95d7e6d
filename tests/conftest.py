import copy
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


@pytest.fixture
def default_config() -> dict:
    """The shipped config.yaml with the schema's defaults filled in (as Snakemake's validate does)."""
    from snakemake.utils import validate

    config = yaml.safe_load((ROOT / "config.yaml").read_text())
    validate(config, str(ROOT / "workflow/schemas/config.schema.yaml"))
    return copy.deepcopy(config)


def pytest_collection_modifyitems(config, items):
    """The SLURM cluster test runs last: it installs SLURM (scontrol on the PATH) and starts daemons."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)
