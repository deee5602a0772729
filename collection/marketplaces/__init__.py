"""Marketplace adapters (Oxylabs, eBay Browse) and the sandbox marketplace emulator.

Import the pieces you need from their modules (``base``, ``factory``, ``sandbox``); this
package does no work at import time.
"""
