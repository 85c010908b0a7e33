"""mtlnotes: tested implementations of the multi-task learning methods reproduced in MTL Notes."""

__version__ = "0.1.0"
