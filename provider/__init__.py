"""c2d.provider: the consumer-facing HTTP service (orders, signatures, encryption, downloads,
the compute API)."""

from c2d.provider.app import create_app
from c2d.provider.settings import ProviderSettings, load_settings
from c2d.settings import SettingsError

__all__ = ["ProviderSettings", "SettingsError", "create_app", "load_settings"]
