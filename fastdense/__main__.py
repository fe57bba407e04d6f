"""``python -m fastdense train`` / ``python -m fastdense bench``."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
