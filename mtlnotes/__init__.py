"""mtlnotes: tested implementations of the multi-task learning methods reproduced in MTL Notes."""

from mtlnotes.numerics import pin_portable_numerics as _pin_portable_numerics

# Before anything imports torch and runs an op: pin CPU code paths so results are identical on every
# x86-64 machine (see mtlnotes/numerics.py; MTLNOTES_NATIVE_NUMERICS=1 opts out).
_pin_portable_numerics()

__version__ = "0.1.0"
