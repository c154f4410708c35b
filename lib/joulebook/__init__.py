"""joulebook: energy, money, carbon and water of ML training and inference.

Importing the package has no side effects: no data is read, NVML is not
touched and no plotting backend is chosen until a function asks for it.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
