"""nasnet_search: RL architecture search for nasnet_keras on keras-tuner.

Not implemented yet (issue 4); importing it only exposes the version.
"""

__version__ = "0.1.0"
