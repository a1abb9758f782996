"""journey-sql: customer-journey tables from RudderStack/Segment `tracks`, on any warehouse."""

from journey_sql.errors import JourneyError
from journey_sql.settings import Settings

__version__ = "0.1.0"

__all__ = ["JourneyError", "Settings", "__version__"]
