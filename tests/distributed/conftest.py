"""The Ray tier: one local cluster for the session (2 CPUs, no dashboard, no
usage statistics), whose workers can import this folder's models."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
# The workers import ray_models (and scripted_model beside it) by name.
sys.path.insert(0, str(HERE))


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[ModuleType]:
    """Ray, connected to a local cluster started for the session."""
    import ray

    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    saved = os.environ.get("PYTHONPATH")
    # The workers start with this environment; only they need the extra path.
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HERE), str(HERE.parent),
                                                *filter(None, [saved])])
    try:
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING,
                 log_to_driver=False)
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield ray
    ray.shutdown()
