"""The sandbox marketplace: an emulator of the Oxylabs and eBay APIs (see ``app``).

- ``SandboxConfig``: the knobs (``config``).
- ``SandboxApp``: the ASGI app, used in-process through ``SandboxTransport`` or served.
- ``sandbox_server`` / ``serve``: a real HTTP server on loopback (``server``).
"""

from .app import RequestRecord, SandboxApp
from .config import SandboxConfig
from .transport import SandboxTransport

__all__ = ["RequestRecord", "SandboxApp", "SandboxConfig", "SandboxTransport"]
