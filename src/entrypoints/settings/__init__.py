"""Settings: defaults, then an optional TOML file, then `CHATSERVICE_*` environment variables,
then the command line (`load_settings`, `sources.py`).

`Settings` (a pydantic model, `catalogue.py`) is the one place every setting and its default is
stated; the adapters and the use cases take their values from it, through the container. The
TOML file's tables are `config_tables.py` (`[providers]`, `[models]`) and `token_tables.py`
(`[[tokens]]`); the providers and model registry the settings make, `registry.py`. A bad setting
raises `SettingsError` with one line that names it; `chatservice serve` prints that line and exits.
"""

from chatservice.entrypoints.settings.catalogue import Settings
from chatservice.entrypoints.settings.errors import ENV_PREFIX, SettingsError
from chatservice.entrypoints.settings.sources import load_settings

__all__ = ["ENV_PREFIX", "Settings", "SettingsError", "load_settings"]
