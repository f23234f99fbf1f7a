"""A simulated multi-region OpenAI-compatible cloud: real HTTP servers with latency and faults.

See `cloud.MockCloud` for use in-process, `__main__` for the command line and `control` for the
API that changes a region's behaviour while it runs.
"""

from .cloud import MockCloud
from .region import Region
from .region_state import RegionStats, RequestRecord
from .settings import (
    CloudSettings,
    ControlSettings,
    RegionSettings,
    SettingsError,
    cloud_settings_from_mapping,
    load_cloud_settings,
)

__all__ = [
    "CloudSettings",
    "ControlSettings",
    "MockCloud",
    "Region",
    "RegionSettings",
    "RegionStats",
    "RequestRecord",
    "SettingsError",
    "cloud_settings_from_mapping",
    "load_cloud_settings",
]
