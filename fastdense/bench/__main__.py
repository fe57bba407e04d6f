"""``python -m fastdense.bench [options]``: the same as ``fastdense bench``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
