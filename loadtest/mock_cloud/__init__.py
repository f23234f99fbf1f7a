"""A simulated multi-region cloud: real HTTP servers with latency, faults and the providers' prompt
caches that speak OpenAI's Chat Completions (with text completions, embeddings and models) and
Responses APIs and Anthropic's Messages API.

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
